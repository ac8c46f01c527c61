"""TIGER's de-dup digit: which level is semantic, and the digit recomputed after a rewrite.

The digit numbers the items that share all semantic codes 0, 1, 2, ... in row order. It
carries no meaning of its own, so it is never aligned: ``rebuild`` and ``align`` both
recompute it over their output with :func:`apply_dedup`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["resolve_dedup", "semantic_levels", "row_groups", "shared_items", "dedup_digit", "apply_dedup"]


def resolve_dedup(mode: str, ctx: Any) -> str:
    """``"last"`` or ``"none"``: ``mode`` itself, or for ``"auto"`` ``"last"`` exactly when
    ``ctx.tokenizer.config.dedup == "digit"`` (a TIGER-style tokenizer), else ``"none"``."""
    if mode != "auto":
        return mode
    config = None if ctx is None else getattr(ctx.tokenizer, "config", None)
    return "last" if getattr(config, "dedup", None) == "digit" else "none"


def semantic_levels(n_levels: int, mode: str) -> int:
    """How many leading levels are semantic under the resolved ``mode``."""
    return n_levels - 1 if mode == "last" else n_levels


def row_groups(codes: np.ndarray) -> np.ndarray:
    """One int64 key per row, equal exactly for equal rows (a mixed-radix number when it
    fits in 62 bits, else the row's index among the distinct rows)."""
    codes = np.asarray(codes, dtype=np.int64)
    n, width = codes.shape
    if n == 0 or width == 0:
        return np.zeros(n, dtype=np.int64)
    radix = codes.max(axis=0) + 1
    if codes.min() >= 0 and float(np.prod(radix.astype(np.float64))) < 2.0**62:
        key = np.zeros(n, dtype=np.int64)
        for level in range(width):
            key = key * radix[level] + codes[:, level]
        return key
    _, inverse = np.unique(codes, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def shared_items(codes: np.ndarray) -> int:
    """Number of rows whose full code is carried by at least one other row."""
    codes = np.asarray(codes, dtype=np.int64)
    if len(codes) < 2:
        return 0
    keys = np.sort(row_groups(codes))
    same = keys[1:] == keys[:-1]  # neighbours in sorted order with equal rows
    shared = np.zeros(len(keys), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    return int(np.count_nonzero(shared))


def dedup_digit(semantic: np.ndarray) -> np.ndarray:
    """The raw digit of every row: its rank, in row order, among the rows with the same
    semantic codes (0 for the first, 1 for the second, ...); not clamped."""
    semantic = np.asarray(semantic, dtype=np.int64)
    n = len(semantic)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    keys = row_groups(semantic)
    order = np.argsort(keys, kind="stable")  # rows of a group stay in row order
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    lengths = np.diff(np.r_[starts, n])
    digit = np.empty(n, dtype=np.int64)
    digit[order] = np.arange(n) - np.repeat(starts, lengths)
    return digit


def apply_dedup(semantic: np.ndarray, mode: str, capacity: int | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """The output codes of ``semantic`` ``[n, S]`` under the resolved ``mode``, and the
    collision counts.

    ``"none"``: the codes as they are; ``collisions_resolved`` = 0 and
    ``collisions_unresolved`` = rows whose full SID another row shares. ``"last"``: append
    :func:`dedup_digit` clamped to ``capacity - 1`` (``capacity``: the digit's vocabulary,
    the previous table's last codebook size); ``collisions_resolved`` = rows given a
    non-zero digit below ``capacity`` (before clamping), ``collisions_unresolved`` = rows
    whose full SID, digit included, another row shares.
    """
    semantic = np.asarray(semantic, dtype=np.int64)
    if mode == "none":
        return semantic, {"collisions_resolved": 0, "collisions_unresolved": shared_items(semantic)}
    if mode != "last":
        raise ValueError(f"dedup mode must be 'last' or 'none' once resolved, got {mode!r}")
    if capacity is None or capacity < 1:
        raise ValueError(f"the de-dup digit needs a capacity >= 1, got {capacity!r}")
    raw = dedup_digit(semantic)
    resolved = int(np.count_nonzero((raw > 0) & (raw < capacity)))
    codes = np.column_stack([semantic, np.minimum(raw, capacity - 1)]).reshape(len(semantic), semantic.shape[1] + 1)
    return codes, {"collisions_resolved": resolved, "collisions_unresolved": shared_items(codes)}
