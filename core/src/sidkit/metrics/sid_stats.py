"""Health statistics of a Semantic ID table: codebook usage, perplexity, collisions, churn."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import SIDTable

__all__ = ["sid_statistics", "sid_change_rate", "prefix_groups"]


def prefix_groups(codes: np.ndarray, sizes: tuple[int, ...], depth: int) -> np.ndarray:
    """Group id (``0..n_groups-1``) of every item's first ``depth`` codes."""
    n = codes.shape[0]
    if depth == 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if float(np.prod([float(w) for w in sizes[:depth]])) < 2.0**62:  # mixed-radix key fits in int64
        key = np.zeros(n, dtype=np.int64)
        for level in range(depth):
            key = key * np.int64(sizes[level]) + codes[:, level]
        _, inverse = np.unique(key, return_inverse=True)
    else:
        _, inverse = np.unique(codes[:, :depth], axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _group_stats(groups: np.ndarray, n: int) -> dict[str, Any]:
    counts = np.bincount(groups) if n else np.zeros(0, dtype=np.int64)
    counts = counts[counts > 0]
    shared = int(counts[counts > 1].sum())
    return {
        "unique": int(len(counts)),
        "collision_rate": shared / n if n else 0.0,
        "items_in_collisions": shared,
        "items_per_group": {
            "mean": float(n / len(counts)) if len(counts) else 0.0,
            "max": int(counts.max()) if len(counts) else 0,
        },
    }


def sid_statistics(sids: SIDTable) -> dict[str, Any]:
    """JSON-able statistics of a SID table.

    * ``levels``: per level ``{"level", "codebook_size", "used" (distinct codes),
      "usage" (used / codebook_size), "perplexity"}``, where perplexity is
      ``exp(entropy)`` (natural log) of the level's code distribution over items: W for
      W codes used equally often, 1 when every item has the same code.
    * ``prefixes``: per prefix depth ``d = 1..L`` ``{"depth", "unique", "collision_rate",
      "items_in_collisions", "items_per_prefix": {"mean", "max"}}``; depth ``L`` is the
      full SID.
    * ``collision_rate``: share of items whose full SID is shared with at least one other
      item; ``unique_sids``; ``items_per_sid`` ``{"mean", "max"}`` over distinct SIDs;
      ``n_items``, ``n_levels``, ``codebook_sizes``.
    """
    codes, sizes = sids.codes, sids.codebook_sizes
    n, n_levels = codes.shape
    levels = []
    for level, w in enumerate(sizes):
        counts = np.unique(codes[:, level], return_counts=True)[1]  # used codes only
        used = len(counts)
        p = counts / n if n else np.zeros(0)
        entropy = float(-(p * np.log(p)).sum())
        levels.append(
            {
                "level": level,
                "codebook_size": int(w),
                "used": used,
                "usage": used / w if w else 0.0,
                "perplexity": float(np.exp(entropy)) if n else 0.0,
            }
        )
    prefixes = []
    for depth in range(1, n_levels + 1):
        st = _group_stats(prefix_groups(codes, sizes, depth), n)
        prefixes.append(
            {
                "depth": depth,
                "unique": st["unique"],
                "collision_rate": st["collision_rate"],
                "items_in_collisions": st["items_in_collisions"],
                "items_per_prefix": st["items_per_group"],
            }
        )
    full = (
        prefixes[-1] if prefixes else {"unique": n, "collision_rate": 0.0, "items_per_prefix": {"mean": 1.0, "max": 1}}
    )
    return {
        "n_items": int(n),
        "n_levels": int(n_levels),
        "codebook_sizes": [int(w) for w in sizes],
        "unique_sids": int(full["unique"]),
        "collision_rate": float(full["collision_rate"]),
        "items_per_sid": dict(full["items_per_prefix"]),
        "levels": levels,
        "prefixes": prefixes,
    }


def sid_change_rate(old: SIDTable, new: SIDTable) -> dict[str, Any]:
    """How much a SID refresh changed the table (continual methods).

    Items are matched by index: item ``i`` of ``old`` is item ``i`` of ``new``. A grown
    catalog is allowed (``new`` may have more items, appended at the end); only the
    ``old.n_items`` shared items are compared and ``n_added`` says how many are new.

    Returns ``{"n_compared", "n_added", "changed" (items whose full SID differs),
    "change_rate" (changed / n_compared), "levels": [{"level", "change_rate"}],
    "prefixes": [{"depth", "change_rate"}]}`` where a prefix of depth ``d`` changed when
    any of its first ``d`` codes did.
    """
    if old.n_levels != new.n_levels:
        raise ValueError(f"cannot compare SID tables with {old.n_levels} and {new.n_levels} levels")
    if new.n_items < old.n_items:
        raise ValueError(
            f"the new SID table has {new.n_items} items, fewer than the old one ({old.n_items}); "
            "items are matched by index, so the catalog may only grow"
        )
    n = old.n_items
    diff = old.codes != new.codes[:n]  # [n, L]
    prefix_changed = np.logical_or.accumulate(diff, axis=1)
    changed = int(prefix_changed[:, -1].sum()) if old.n_levels else 0

    def rate(x: np.ndarray) -> float:
        return float(x.sum()) / n if n else 0.0

    return {
        "n_compared": int(n),
        "n_added": int(new.n_items - n),
        "changed": changed,
        "change_rate": changed / n if n else 0.0,
        "levels": [{"level": lv, "change_rate": rate(diff[:, lv])} for lv in range(old.n_levels)],
        "prefixes": [{"depth": d + 1, "change_rate": rate(prefix_changed[:, d])} for d in range(old.n_levels)],
    }
