"""sidkit-intrr: IntRR, a recursive-assignment network that gives a generative recommender
one backbone position per item and decodes the whole Semantic ID after one backbone pass.

Importing this package is cheap (no torch); the generator is
:mod:`sidkit_intrr.generator`, built through sidkit's registry.
"""

__version__ = "0.1.0"
