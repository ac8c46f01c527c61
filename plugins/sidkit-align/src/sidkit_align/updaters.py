"""The SID updaters ``keep``, ``rebuild`` and ``align``.

Each takes the table the checkpoint was trained on (``previous``) and one from a re-fitted
tokenizer (``refreshed``) and returns the table to continue with plus a JSON-able report.
Rows of ``previous`` are the items ``ctx.extras["previous_items"]`` and rows of
``refreshed`` the items ``ctx.extras["refreshed_items"]`` (default, and with ``ctx=None``:
row ``i`` is item ``i``). The output keeps ``previous.codebook_sizes``, the checkpoint's
vocabulary.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import numpy as np
from sidkit.errors import SidkitError
from sidkit.types import SIDTable

from .align import align_codes
from .configs import AlignConfig, KeepConfig, RebuildConfig
from .dedup import apply_dedup, resolve_dedup, semantic_levels
from .tables import PREVIOUS_ITEMS, REFRESHED_ITEMS, changed_rate, check_levels, check_sizes, item_rows, overlap

__all__ = ["KeepUpdater", "RebuildUpdater", "AlignUpdater"]


@attrs.frozen
class _Pairing:
    """What the updaters share after validation: the dedup mode, how many levels are
    semantic, and the rows of the overlap items in each table."""

    mode: str
    semantic: int
    previous_rows: np.ndarray
    refreshed_rows: np.ndarray
    n_refreshed: int

    def counts(self) -> dict[str, int]:
        n_overlap = len(self.previous_rows)
        return {"n_overlap": n_overlap, "n_new_items": self.n_refreshed - n_overlap}


def _pair(name: str, previous: SIDTable, refreshed: SIDTable, ctx: Any, dedup: str | None) -> _Pairing:
    who = f"sid-updater {name}"
    check_levels(previous, refreshed, who)
    prev_items = item_rows(ctx, PREVIOUS_ITEMS, previous.n_items, who)
    ref_items = item_rows(ctx, REFRESHED_ITEMS, refreshed.n_items, who)
    mode = "none" if dedup is None else resolve_dedup(dedup, ctx)
    if mode == "last" and previous.n_levels < 2:
        raise SidkitError(
            f"{who}: dedup 'last' needs at least one semantic level before the de-dup digit, "
            f"but the SIDs have {previous.n_levels} level"
        )
    semantic = semantic_levels(previous.n_levels, mode)
    if dedup is not None:
        check_sizes(previous, refreshed, semantic, who)
    prev_rows, ref_rows = overlap(prev_items, ref_items)
    return _Pairing(mode, semantic, prev_rows, ref_rows, refreshed.n_items)


def _finish(semantic_codes: np.ndarray, pairing: _Pairing, previous: SIDTable) -> tuple[SIDTable, dict[str, int]]:
    codes, collisions = apply_dedup(semantic_codes, pairing.mode, previous.codebook_sizes[-1])
    return SIDTable(codes, previous.codebook_sizes), collisions


def _changed(previous: SIDTable, semantic_codes: np.ndarray, pairing: _Pairing) -> float | None:
    old = previous.codes[pairing.previous_rows, : pairing.semantic]
    return changed_rate(old, semantic_codes[pairing.refreshed_rows])


class KeepUpdater:
    """``keep``: continue with the previous table unchanged (stale SIDs, FT-old). The
    refreshed table's codes are not used; its SID length and row items are still checked."""

    name = "keep"

    def __init__(self, config: KeepConfig | None = None):
        self.config = config if config is not None else KeepConfig()

    def update(self, previous: SIDTable, refreshed: SIDTable, ctx: Any = None) -> tuple[SIDTable, dict[str, Any]]:
        """Return ``previous`` itself; the report counts the overlap and the refreshed
        items the previous table does not cover (they stay without a SID)."""
        pairing = _pair(self.name, previous, refreshed, ctx, None)
        return previous, {"updater": self.name, "rows": "previous", **pairing.counts()}


class RebuildUpdater:
    """``rebuild``: continue with the refreshed codes as they are (FT-new), in the
    previous vocabulary sizes, with the de-dup digit recomputed under ``dedup="last"``."""

    name = "rebuild"

    def __init__(self, config: RebuildConfig | None = None):
        self.config = config if config is not None else RebuildConfig()

    def update(self, previous: SIDTable, refreshed: SIDTable, ctx: Any = None) -> tuple[SIDTable, dict[str, Any]]:
        """Return the refreshed rows; the report adds ``changed_rate`` (overlap items whose
        semantic SID differs from the old one) and the collision counts."""
        pairing = _pair(self.name, previous, refreshed, ctx, self.config.dedup)
        semantic_codes = refreshed.codes[:, : pairing.semantic]
        table, collisions = _finish(semantic_codes, pairing, previous)
        report = {
            "updater": self.name,
            "rows": "refreshed",
            "dedup": pairing.mode,
            **pairing.counts(),
            "changed_rate": _changed(previous, semantic_codes, pairing),
            **collisions,
        }
        return table, report


class AlignUpdater:
    """``align``: map the refreshed codes into the previous token space (FT-ours), one
    bijection per semantic level from the overlap items' co-occurrence counts, then
    recompute the de-dup digit under ``dedup="last"``."""

    name = "align"

    def __init__(self, config: AlignConfig | None = None):
        self.config = config if config is not None else AlignConfig()

    def update(self, previous: SIDTable, refreshed: SIDTable, ctx: Any = None) -> tuple[SIDTable, dict[str, Any]]:
        """Return the aligned refreshed rows and the alignment report (per-level matches,
        agreement, ``changed_rate``, timing, collisions)."""
        pairing = _pair(self.name, previous, refreshed, ctx, self.config.dedup)
        start = time.perf_counter()
        aligned, _, levels = align_codes(
            previous.codes[:, : pairing.semantic],
            refreshed.codes[:, : pairing.semantic],
            pairing.previous_rows,
            pairing.refreshed_rows,
            previous.codebook_sizes[: pairing.semantic],
            self.config.solver,
        )
        seconds = time.perf_counter() - start
        table, collisions = _finish(aligned, pairing, previous)
        report = {
            "updater": self.name,
            "rows": "refreshed",
            "solver": self.config.solver,
            "dedup": pairing.mode,
            **pairing.counts(),
            "levels": levels,
            "changed_rate": _changed(previous, aligned, pairing),
            "seconds": seconds,
            **collisions,
        }
        return table, report
