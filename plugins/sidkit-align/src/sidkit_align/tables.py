"""Which item each table row is, which items both tables cover, and the checks every
updater runs before touching the codes."""

from __future__ import annotations

from typing import Any

import numpy as np
from sidkit.errors import SidkitError
from sidkit.types import SIDTable

__all__ = ["PREVIOUS_ITEMS", "REFRESHED_ITEMS", "item_rows", "check_levels", "check_sizes", "overlap", "changed_rate"]

PREVIOUS_ITEMS = "previous_items"
REFRESHED_ITEMS = "refreshed_items"


def item_rows(ctx: Any, key: str, n_rows: int, who: str) -> np.ndarray:
    """The global item index of every row of a table: ``ctx.extras[key]`` (a sorted,
    unique, non-negative integer array with one entry per row), or ``0..n_rows-1`` when
    the key is absent or there is no context."""
    extras = {} if ctx is None else ctx.extras or {}
    value = extras.get(key)
    if value is None:
        return np.arange(n_rows, dtype=np.int64)
    items = np.asarray(value)
    if items.ndim != 1 or (len(items) and not np.issubdtype(items.dtype, np.integer)):
        raise SidkitError(
            f"{who}: ctx.extras[{key!r}] must be a 1-D array of integer item indices, "
            f"got shape {items.shape} dtype {items.dtype}"
        )
    if len(items) != n_rows:
        raise SidkitError(
            f"{who}: ctx.extras[{key!r}] lists {len(items)} items but the "
            f"{key.split('_')[0]} table has {n_rows} rows (one item index per row)"
        )
    items = items.astype(np.int64, copy=False)
    if len(items) and items[0] < 0:
        raise SidkitError(f"{who}: ctx.extras[{key!r}] contains a negative item index ({int(items[0])})")
    if len(items) > 1 and np.any(np.diff(items) <= 0):
        at = int(np.flatnonzero(np.diff(items) <= 0)[0])
        raise SidkitError(
            f"{who}: ctx.extras[{key!r}] must be sorted and unique; entry {at + 1} ({int(items[at + 1])}) "
            f"does not follow entry {at} ({int(items[at])})"
        )
    return items


def check_levels(previous: SIDTable, refreshed: SIDTable, who: str) -> None:
    """Both tables have the same SID length (the checkpoint generates exactly that many tokens)."""
    if previous.n_levels != refreshed.n_levels:
        raise SidkitError(
            f"{who}: previous SIDs have {previous.n_levels} levels but refreshed SIDs {refreshed.n_levels}; "
            "the refreshed tokenizer must produce SIDs of the checkpoint's length"
        )


def check_sizes(previous: SIDTable, refreshed: SIDTable, semantic: int, who: str) -> None:
    """Every semantic level of ``refreshed`` fits in the previous vocabulary of that level."""
    for level in range(semantic):
        new, old = refreshed.codebook_sizes[level], previous.codebook_sizes[level]
        if new > old:
            raise SidkitError(
                f"{who}: level {level} of the refreshed SIDs has codebook size {new}, larger than the "
                f"previous size {old}; the checkpoint's vocabulary cannot hold the extra tokens"
            )


def overlap(previous_items: np.ndarray, refreshed_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the items present in both tables: ``(previous_rows, refreshed_rows)``,
    paired and in ascending item order."""
    previous_items = np.asarray(previous_items, dtype=np.int64)
    refreshed_items = np.asarray(refreshed_items, dtype=np.int64)
    if len(refreshed_items) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    at = np.searchsorted(refreshed_items, previous_items)  # both are sorted and unique
    inside = at < len(refreshed_items)
    hit = np.zeros(len(previous_items), dtype=bool)
    hit[inside] = refreshed_items[at[inside]] == previous_items[inside]
    return np.flatnonzero(hit).astype(np.int64), at[hit].astype(np.int64)


def changed_rate(old: np.ndarray, new: np.ndarray) -> float | None:
    """Fraction of rows where ``new`` differs from ``old`` anywhere (``None`` for no rows)."""
    if len(old) == 0:
        return None
    return float(np.mean(np.any(np.asarray(old) != np.asarray(new), axis=1)))
