"""Leaving a history's own items out of its ranking (the ``exclude_history`` protocol).

sidkit's evaluation ranks the whole catalog and does not filter history items (see
:mod:`sidkit.metrics.ranking`). Decoders that offer ``exclude_history = true`` leave them
out; the pipeline then computes ``markov/`` and ``mostpop/`` the same way, so every figure of
one run stays comparable. On data with de-duplicated interactions (MovieLens ratings, the
Amazon 5-core sets with ``dedup = "first"``) a history item can never be a target, and a
model that lists them wastes slots.
"""

from __future__ import annotations

import numpy as np

from ..types import Ragged

__all__ = ["drop_history_items", "history_mask"]


def history_mask(items: np.ndarray, histories: Ragged) -> np.ndarray:
    """``[n, K]`` booleans: whether ``items[i, j]`` is in history ``i`` (``-1`` pads never are)."""
    items = np.asarray(items, dtype=np.int64)
    if items.ndim != 2 or len(items) != len(histories):
        raise ValueError(f"items must be [n_histories={len(histories)}, K], got shape {items.shape}")
    stride = np.int64(max(int(items.max(initial=-1)), int(histories.values.max(initial=-1))) + 2)
    rows = np.repeat(np.arange(len(items), dtype=np.int64), histories.lengths)
    banned = np.unique(rows * stride + histories.values.astype(np.int64))
    keys = np.arange(len(items), dtype=np.int64)[:, None] * stride + items
    return (items >= 0) & np.isin(keys, banned)


def drop_history_items(
    items: np.ndarray, histories: Ragged, k: int, scores: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``k`` entries of each row of ``items`` (``[n, K]``, best first, ``-1`` pads)
    that are not in that row's history, keeping their order; rows with fewer left are padded
    with ``-1`` (and ``-inf`` in ``scores``, which is filtered alongside when given)."""
    items = np.asarray(items, dtype=np.int64)
    keep = (items >= 0) & ~history_mask(items, histories)
    n = len(items)
    dest = np.cumsum(keep, axis=1) - 1
    put = keep & (dest < k)
    r, c = np.nonzero(put)
    out = np.full((n, k), -1, dtype=np.int64)
    out[r, dest[r, c]] = items[r, c]
    if scores is None:
        return out, None
    kept = np.full((n, k), -np.inf, dtype=np.asarray(scores).dtype)
    kept[r, dest[r, c]] = np.asarray(scores)[r, c]
    return out, kept
