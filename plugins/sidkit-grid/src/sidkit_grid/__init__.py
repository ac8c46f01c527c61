"""sidkit-grid: the components of GRID (snap-research) and TIGER (Rajput et al. 2023).

Importing this package is cheap (no torch); the components live in
:mod:`sidkit_grid.encoders`, :mod:`sidkit_grid.tokenizers`, :mod:`sidkit_grid.generators`
and :mod:`sidkit_grid.decoding` and are built through sidkit's registry. Other plugins
import sidkit-grid only through its public module :mod:`sidkit_grid.api`.
"""

__version__ = "0.1.0"
