"""GRID encoders: ``hf-text`` (import :mod:`sidkit_grid.encoders.hf_text`; this package imports nothing heavy)."""
