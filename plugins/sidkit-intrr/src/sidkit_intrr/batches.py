"""Training samples and batches of the ``intrr`` generator (vectorised numpy).

A backbone row holds one slot per history item plus the start vector in front of the first
one (:data:`~sidkit_intrr.model.START`), left-padded with :data:`~sidkit_intrr.model.PAD`.
The hidden state of slot ``j`` predicts the item after it. ``windows = "all"`` trains every
item of a window of ``max_len + 1`` items from one row; ``"sliding"`` has one row per
prefix and trains its last slot only. Both train exactly the same targets.
"""

from __future__ import annotations

import hashlib

import attrs
import numpy as np
import torch
from sidkit.data import causal_windows, sliding_windows, trim_left_padding
from sidkit.types import Ragged

from .model import PAD, START

__all__ = ["Samples", "training_samples", "slot_rows", "make_batch"]


@attrs.frozen(eq=False)
class Samples:
    """Training rows: ``history[j]`` (``[max_len]`` items, left-padded with -1) and
    ``is_target[j]`` (``[max_len + 1]``: which of ``[history[j], next]``'s items after the
    first are trained on, ``next[j]`` being the item after the history)."""

    history: np.ndarray
    next: np.ndarray
    is_target: np.ndarray

    def __len__(self) -> int:
        return len(self.history)

    @property
    def lengths(self) -> np.ndarray:
        """History items per row (what a batch is padded to)."""
        return (self.history >= 0).sum(axis=1)

    @property
    def n_targets(self) -> int:
        return int(self.is_target.sum())

    def digest(self) -> str:
        h = hashlib.sha256()
        for array in (self.history, self.next, self.is_target):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()[:20]


def training_samples(train: Ragged, max_len: int, windows: str, first_target: np.ndarray | None = None) -> Samples:
    """``windows = "all"``: :func:`sidkit.data.causal_windows` (every transition once, windows
    overlapping by one item); ``"sliding"``: :func:`sidkit.data.sliding_windows` (every prefix)."""
    if windows == "all":
        _, items, is_target = causal_windows(train, max_len, first_target=first_target)
        return Samples(items[:, :-1], items[:, -1], is_target)
    inputs, targets = sliding_windows(train, max_len, first_target=first_target)
    history = inputs.to_padded(max_len)
    is_target = np.zeros((len(targets), max_len + 1), dtype=bool)
    is_target[:, -1] = True
    return Samples(history, targets, is_target)


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
    history = samples.history[rows]
    slots = slot_rows(history)
    is_target = samples.is_target[rows]
    items = np.concatenate([history, samples.next[rows, None]], axis=1)  # slot j predicts items[:, j]
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
