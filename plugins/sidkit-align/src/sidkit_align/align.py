"""Alignment of a whole table of semantic codes, one codebook position at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .matching import complete_mapping, cooccurrence, match

__all__ = ["align_level", "align_codes"]


def _used(col: np.ndarray, size: int) -> np.ndarray:
    return np.flatnonzero(np.bincount(col, minlength=size))


def align_level(
    new_col: np.ndarray,
    old_col: np.ndarray,
    refreshed_rows: np.ndarray,
    previous_rows: np.ndarray,
    size: int,
    solver: str = "hungarian",
) -> tuple[np.ndarray, dict[str, Any]]:
    """The bijection ``phi`` of one position and its statistics.

    ``new_col``: the refreshed table's tokens at this position (every row); ``old_col``:
    the previous table's; ``refreshed_rows[j]`` and ``previous_rows[j]`` are the rows of
    overlap item ``j`` in each table. ``size``: the position's (old) vocabulary size.
    Statistics: ``matched`` (pairs with ``W > 0`` accepted), ``matched_weight`` (their
    total ``W``), ``completed`` (used new tokens mapped by completion), ``agreement``
    (fraction of overlap items whose aligned token equals the old one; ``None`` without
    overlap) and ``agreement_before`` (the same for the refreshed tokens as they came, i.e.
    the identity map; Hungarian's ``agreement`` is never below it).
    """
    new_col = np.asarray(new_col, dtype=np.int64)
    old_col = np.asarray(old_col, dtype=np.int64)
    new_ov, old_ov = new_col[refreshed_rows], old_col[previous_rows]
    W = cooccurrence(new_ov, old_ov, size, size)
    pairs = match(W, solver)
    used_new = _used(new_col, size)
    phi = complete_mapping(pairs, used_new, _used(old_col, size), size)
    agreement = float(np.mean(phi[new_ov] == old_ov)) if len(new_ov) else None
    before = float(np.mean(new_ov == old_ov)) if len(new_ov) else None
    stats = {
        "matched": int(len(pairs)),
        "matched_weight": int(W[pairs[:, 0], pairs[:, 1]].sum()),
        "completed": int(len(used_new) - len(pairs)),
        "agreement": agreement,
        "agreement_before": before,
    }
    return phi, stats


def align_codes(
    previous_codes: np.ndarray,
    refreshed_codes: np.ndarray,
    previous_rows: np.ndarray,
    refreshed_rows: np.ndarray,
    sizes: Sequence[int],
    solver: str = "hungarian",
) -> tuple[np.ndarray, list[np.ndarray], list[dict[str, Any]]]:
    """Rewrite ``refreshed_codes`` ``[n_ref, S]`` into the token space of
    ``previous_codes`` ``[n_prev, S]`` (semantic levels only), position by position.

    ``previous_rows``/``refreshed_rows`` pair the rows of the overlap items; ``sizes[l]`` is
    the vocabulary of position ``l`` (the previous table's; refreshed tokens must be below
    it). Returns the aligned codes (one row per refreshed row), the bijection ``phi`` of
    every position (``aligned[:, l] = phi[l][refreshed[:, l]]``) and the per-position
    statistics of :func:`align_level` with ``"level"`` added.
    """
    previous_codes = np.asarray(previous_codes, dtype=np.int64)
    refreshed_codes = np.asarray(refreshed_codes, dtype=np.int64)
    if previous_codes.ndim != 2 or refreshed_codes.ndim != 2 or previous_codes.shape[1] != refreshed_codes.shape[1]:
        raise ValueError(
            f"previous_codes {previous_codes.shape} and refreshed_codes {refreshed_codes.shape} must be 2-D "
            "with the same number of positions"
        )
    if len(sizes) != previous_codes.shape[1]:
        raise ValueError(f"sizes has {len(sizes)} entries for {previous_codes.shape[1]} positions")
    previous_rows = np.asarray(previous_rows, dtype=np.int64)
    refreshed_rows = np.asarray(refreshed_rows, dtype=np.int64)
    if previous_rows.shape != refreshed_rows.shape or previous_rows.ndim != 1:
        raise ValueError(
            "previous_rows and refreshed_rows must be 1-D and of the same length (one entry per overlap item)"
        )
    aligned = np.empty_like(refreshed_codes)
    phis: list[np.ndarray] = []
    levels: list[dict[str, Any]] = []
    for level, size in enumerate(sizes):
        phi, stats = align_level(
            refreshed_codes[:, level], previous_codes[:, level], refreshed_rows, previous_rows, int(size), solver
        )
        aligned[:, level] = phi[refreshed_codes[:, level]]
        phis.append(phi)
        levels.append({"level": level, **stats})
    return aligned, phis, levels
