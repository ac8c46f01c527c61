"""sidkit-align: SID updaters for stale collaborative SIDs (keep, rebuild, align).

Importing this package is cheap (no numpy work, no scipy); the updaters live in
:mod:`sidkit_align.updaters` and are built through sidkit's registry. The pure pieces of
the alignment are :mod:`sidkit_align.matching` (co-occurrence, greedy and Hungarian
matching, completion), :mod:`sidkit_align.align` (per-level alignment of a whole table)
and :mod:`sidkit_align.dedup` (TIGER's de-dup digit).
"""

__version__ = "0.1.0"
