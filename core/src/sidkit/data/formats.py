"""The dataset formats by name, and loading a dataset from a format's config.

A ``[data]`` table of a pipeline config names the format (``format = "movielens"``); the
other keys are structured into that format's config class (paths are strings, resolved
against the config file beforehand).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..errors import UnknownComponentError
from .loaders import (
    AmazonConfig,
    DelimitedConfig,
    LoadOptions,
    MovieLensConfig,
    RecBoleConfig,
    SyntheticConfig,
    load_amazon,
    load_delimited,
    load_movielens,
    load_recbole,
    load_synthetic,
)
from .model import Dataset

__all__ = ["FormatSpec", "FORMATS", "LoadOptions", "load_dataset", "load_from_config", "format_of"]


@attrs.frozen
class FormatSpec:
    """A dataset format: its name, config class, loader and a one-line description."""

    name: str
    config_cls: type
    load: Callable[[Any], Dataset]
    description: str


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("synthetic", SyntheticConfig, load_synthetic,
                   "generated users and items with planted topics (no files)"),
        FormatSpec("movielens", MovieLensConfig, load_movielens,
                   "MovieLens folder: 100K (u.data, u.item), 1M/10M (ratings.dat, movies.dat), 20M+ (ratings.csv)"),
        FormatSpec("amazon", AmazonConfig, load_amazon,
                   "Amazon 2014 reviews_X_5.json[.gz] with metadata meta_X.json[.gz]"),
        FormatSpec("recbole", RecBoleConfig, load_recbole, "RecBole atomic files: .inter and .item"),
        FormatSpec("delimited", DelimitedConfig, load_delimited,
                   "CSV/TSV (or Parquet) interactions with a header, item file as JSON lines or CSV/TSV"),
    )
}  # fmt: skip


def _spec(format: str) -> FormatSpec:
    if format not in FORMATS:
        raise UnknownComponentError("data format", format, list(FORMATS))
    return FORMATS[format]


def format_of(config: Any) -> str:
    """The name of the format whose config class ``config`` is an instance of."""
    for spec in FORMATS.values():
        if type(config) is spec.config_cls:
            return spec.name
    raise TypeError(f"{type(config).__name__} is not the config class of a registered format")


def load_dataset(format: str, **fields: Any) -> Dataset:
    """Load a dataset: ``load_dataset("movielens", path="ml-100k", ties="shuffle")``."""
    spec = _spec(format)
    return spec.load(spec.config_cls(**fields))


def load_from_config(config: Any, format: str | None = None) -> Dataset:
    """Load a dataset from a structured format config (``format`` defaults to the one
    whose config class ``config`` is)."""
    spec = _spec(format or format_of(config))
    if not isinstance(config, spec.config_cls):
        raise TypeError(f"format {spec.name!r} takes a {spec.config_cls.__name__}, got {type(config).__name__}")
    return spec.load(config)
