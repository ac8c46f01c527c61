"""sidkit: a plugin-based SDK for generative recommendation with Semantic IDs.

Importing ``sidkit`` is cheap (no torch); see :mod:`sidkit.api` for the Python entry points.
"""

__version__ = "0.1.0"
