"""Training samples and batches of the ``intrr`` generator (vectorised numpy).

A backbone row holds one slot per history item plus the start vector in front of the first
one (:data:`~sidkit_intrr.model.START`), left-padded with :data:`~sidkit_intrr.model.PAD`.
The hidden state of slot ``j`` predicts the item after it. ``windows = "all"`` trains every
item of a window of ``max_len + 1`` items from one row; ``"sliding"`` has one row per
prefix and trains its last slot only. Both train exactly the same targets. Rows are never
materialised: a batch gathers its rows from the training sequences by index arithmetic.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch
from sidkit.data import CausalWindowIndex, SlidingWindows, trim_left_padding
from sidkit.types import Ragged

from .model import PAD, START

__all__ = ["Samples", "training_samples", "slot_rows", "make_batch"]


@attrs.frozen(eq=False)
class Samples:
    """Training rows as an index over the training sequences (:class:`sidkit.data.CausalWindowIndex`
    for ``"all"``, :class:`sidkit.data.SlidingWindows` for ``"sliding"``): nothing per row is
    stored; :meth:`rows` gathers a batch's rows when it is built.

    Row ``j`` is ``history`` (``[max_len]`` items, left-padded with -1), ``next`` (the item
    after the history) and ``is_target`` (``[max_len + 1]``: which of ``[history, next]``'s
    items after the first are trained on)."""

    index: CausalWindowIndex | SlidingWindows

    def __len__(self) -> int:
        return len(self.index)

    @property
    def max_len(self) -> int:
        return self.index.max_len

    @property
    def lengths(self) -> np.ndarray:
        """History items per row (what a batch is padded to)."""
        if isinstance(self.index, CausalWindowIndex):
            return self.index.lengths() - 1
        return self.index.lengths()

    @property
    def n_targets(self) -> int:
        if isinstance(self.index, CausalWindowIndex):
            return self.index.n_targets()
        return len(self.index)

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(history, next, is_target)`` of rows ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(self.index, CausalWindowIndex):
            _, items, is_target = self.index.windows(rows)
            return items[:, :-1], items[:, -1], is_target
        is_target = np.zeros((len(rows), self.max_len + 1), dtype=bool)
        is_target[:, -1] = True
        return self.index.padded(rows), self.index.targets(rows), is_target

    def digest(self) -> str:
        """What the rows are made of (the index's digest)."""
        return self.index.digest()


def training_samples(train: Ragged, max_len: int, windows: str, first_target: np.ndarray | None = None) -> Samples:
    """``windows = "all"``: the windows of :func:`sidkit.data.causal_windows` (every transition
    once, windows overlapping by one item); ``"sliding"``: every prefix, as
    :func:`sidkit.data.sliding_windows`. Both as indices, built batch by batch."""
    if windows == "all":
        return Samples(CausalWindowIndex.build(train, max_len, first_target=first_target))
    return Samples(SlidingWindows.build(train, max_len, first_target=first_target))


def slot_rows(history: np.ndarray) -> np.ndarray:
    """``[n, M + 1]`` slots of left-padded histories ``[n, M]``: the start vector, then the items."""
    n, m = history.shape
    out = np.full((n, m + 1), PAD, dtype=np.int64)
    out[:, 1:] = history
    out[np.arange(n), m - (history >= 0).sum(axis=1)] = START
    return out


def make_batch(samples: Samples, codes: np.ndarray, rows: np.ndarray) -> dict[str, torch.Tensor]:
    """The CPU batch of ``rows`` for :meth:`IntRRNet.forward`: history slots re-indexed to
    the batch's distinct items, target positions and their SIDs."""
    history, following, is_target = samples.rows(rows)
    slots = slot_rows(history)
    items = np.concatenate([history, following[:, None]], axis=1)  # slot j predicts items[:, j]
    slots, is_target, items = trim_left_padding(slots, is_target, items, pad=PAD)
    real = slots >= 0
    distinct, inverse, counts = np.unique(slots[real], return_inverse=True, return_counts=True)
    slots[real] = inverse
    return {
        "slots": torch.from_numpy(slots),
        "targets": torch.from_numpy(is_target),
        "target_codes": torch.from_numpy(codes[items[is_target]]),
        "items": torch.from_numpy(distinct),
        "item_codes": torch.from_numpy(codes[distinct]),
        "item_counts": torch.from_numpy(counts),
    }
