"""Relaxed-to-strict re-assignment: which rows keep their old SID, and a collision repair
that only ever moves changed or new rows (numpy only)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sidkit.errors import SidkitError

__all__ = ["candidate_digits", "strict_sids", "change_rates"]


def candidate_digits(codes: np.ndarray) -> np.ndarray:
    """Index of every row within its group of identical code rows, in row order (unique → 0)."""
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    digit = np.empty(n, dtype=np.int64)
    digit[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return digit


def strict_sids(
    new_codes: np.ndarray, old_sids: np.ndarray, keep: np.ndarray, digit_size: int | None, who: str = "sid-updater"
) -> tuple[np.ndarray, dict[str, int]]:
    """The SIDs to continue with.

    ``new_codes [n, L]``: the tokenizer's codes of every row (rows in item order);
    ``old_sids``: each row's previous SID (``[n, L + 1]`` with a de-dup digit, ``[n, L]``
    without; rows not kept are ignored); ``keep [n]``: rows that keep their entire old SID.
    Every other row takes its new codes plus its candidate digit (:func:`candidate_digits`
    over all rows). A candidate that equals a kept row's SID, or does not fit
    ``digit_size``, gets the smallest digit unused under its prefix, rows in order; kept
    rows and rows whose candidate is free never move. ``digit_size = None``: no digit
    level (collisions stay). Returns the codes and ``{"collisions_repaired": ...}``."""
    new_codes = np.asarray(new_codes, dtype=np.int64)
    old_sids = np.asarray(old_sids, dtype=np.int64)
    keep = np.asarray(keep, dtype=bool)
    if digit_size is None:
        return np.where(keep[:, None], old_sids, new_codes), {"collisions_repaired": 0}
    levels = new_codes.shape[1]
    out = np.column_stack([new_codes, candidate_digits(new_codes)])
    out[keep] = old_sids[keep]
    used: dict[tuple[int, ...], set[int]] = defaultdict(set)
    for row in out[keep].tolist():
        used[tuple(row[:levels])].add(row[levels])
    clash = []
    for r in np.flatnonzero(~keep).tolist():
        prefix, digit = tuple(out[r, :levels].tolist()), int(out[r, levels])
        if digit >= digit_size or digit in used[prefix]:
            clash.append(r)
        else:
            used[prefix].add(digit)
    for r in clash:
        prefix = tuple(out[r, :levels].tolist())
        taken = used[prefix]
        free = next((d for d in range(digit_size) if d not in taken), None)
        if free is None:
            raise SidkitError(
                f"{who}: more than {digit_size} items have the codes {prefix}, but the de-dup level has "
                f"{digit_size} codes; fit the tokenizer with a larger dedup_size"
            )
        out[r, levels] = free
        taken.add(free)
    return out, {"collisions_repaired": len(clash)}


def change_rates(old: np.ndarray, new: np.ndarray) -> dict[str, object]:
    """Share of rows whose code differs, per level and overall (any level), for the rows of
    ``old`` and ``new`` (same items, same shape)."""
    if len(old) == 0:
        return {"change_rate_per_layer": [0.0] * old.shape[1], "change_rate": 0.0}
    diff = np.asarray(old) != np.asarray(new)
    return {"change_rate_per_layer": diff.mean(0).round(6).tolist(), "change_rate": round(float(diff.any(1).mean()), 6)}

