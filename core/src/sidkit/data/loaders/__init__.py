"""Loaders of the dataset formats; :mod:`sidkit.data.formats` registers them by name."""

from .amazon import AmazonConfig, load_amazon
from .delimited import DelimitedConfig, load_delimited
from .movielens import MovieLensConfig, load_movielens
from .options import LoadOptions
from .recbole import RecBoleConfig, load_recbole
from .synthetic import SyntheticConfig, load_synthetic

__all__ = [
    "LoadOptions",
    "MovieLensConfig",
    "AmazonConfig",
    "RecBoleConfig",
    "DelimitedConfig",
    "SyntheticConfig",
    "load_movielens",
    "load_amazon",
    "load_recbole",
    "load_delimited",
    "load_synthetic",
]
