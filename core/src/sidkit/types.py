"""Data types exchanged between pipeline stages.

Everything here is numpy-based so that importing it never imports torch.
Item and user *indices* are dense ``0..n-1`` integers; the external ids
(as written in the source files) live in :class:`sidkit.data.Catalog` and
:class:`sidkit.data.Interactions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs
import numpy as np

__all__ = ["Ragged", "ItemEmbeddings", "SIDTable", "EvalSet", "SplitData", "Rankings"]


def _as_int64(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.int64))


@attrs.frozen(eq=False)
class Ragged:
    """A list of variable-length int64 sequences stored as ``values`` + ``offsets``.

    Row ``i`` is ``values[offsets[i]:offsets[i+1]]``; ``offsets`` has ``len + 1`` entries.
    """

    values: np.ndarray = attrs.field(converter=_as_int64)
    offsets: np.ndarray = attrs.field(converter=_as_int64)

    def __attrs_post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) == 0 or self.offsets[0] != 0:
            raise ValueError("Ragged offsets must be 1-D and start at 0")
        if self.offsets[-1] != len(self.values) or np.any(np.diff(self.offsets) < 0):
            raise ValueError("Ragged offsets must be non-decreasing and end at len(values)")

    @classmethod
    def from_lists(cls, rows: Iterable[Sequence[int]]) -> Ragged:
        rows = [np.asarray(r, dtype=np.int64) for r in rows]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return cls(values=values, offsets=offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        if i < 0:
            i += len(self)
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, rows: np.ndarray) -> Ragged:
        """Rows ``rows`` (in that order) as a new Ragged."""
        rows = _as_int64(rows)
        lengths = self.lengths[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if len(rows) == 0:
            return Ragged(np.zeros(0, dtype=np.int64), offsets)
        starts = self.offsets[rows]
        idx = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Ragged(self.values[idx], offsets)

    def to_padded(
        self, max_len: int, pad: int = -1, *, left: bool = True, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """``[n, max_len]`` int64: the last ``max_len`` entries of each row (oldest first),
        padded with ``pad`` on the left (default: every row ends in the last column) or on
        the right. ``rows`` (optional) picks and orders the rows, as :meth:`take` would,
        without copying the others. Vectorised: this is sidkit's one padded-history helper
        (generators batch histories with it)."""
        starts, ends = self.offsets[:-1], self.offsets[1:]
        if rows is not None:
            rows = _as_int64(rows)
            starts, ends = starts[rows], ends[rows]
        lengths = np.minimum(ends - starts, max_len)
        cols = np.arange(max_len)
        if left:
            idx = ends[:, None] - max_len + cols[None, :]
            real = cols[None, :] >= (max_len - lengths)[:, None]
        else:
            idx = (ends - lengths)[:, None] + cols[None, :]
            real = cols[None, :] < lengths[:, None]
        out = np.full((len(starts), max_len), pad, dtype=np.int64)
        out[real] = self.values[idx[real]]
        return out


@attrs.frozen(eq=False)
class ItemEmbeddings:
    """Item embedding matrix ``[n_items, d]`` (float32), row ``i`` = item index ``i``.

    ``views`` carries extra aligned matrices a tokenizer may need beside the main one,
    e.g. ``{"content": ..., "collaborative": ...}`` for collaborative tokenizers.
    """

    values: np.ndarray = attrs.field(converter=lambda a: np.ascontiguousarray(a, dtype=np.float32))
    views: Mapping[str, np.ndarray] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"item embeddings must be 2-D [n_items, d], got shape {self.values.shape}")
        for name, v in self.views.items():
            if len(v) != len(self.values):
                raise ValueError(
                    f"embedding view {name!r} has {len(v)} rows, expected {len(self.values)} (one per item)"
                )

    @property
    def n_items(self) -> int:
        return self.values.shape[0]

    @property
    def dim(self) -> int:
        return self.values.shape[1]


@attrs.frozen(eq=False)
class SIDTable:
    """Semantic IDs: ``codes[i]`` is the length-``L`` code of item index ``i``.

    ``codebook_sizes[l]`` is the vocabulary size of level ``l`` (codes are in
    ``0..codebook_sizes[l]-1``). A de-duplication digit, if any, is just another level.
    """

    codes: np.ndarray = attrs.field(converter=_as_int64)
    codebook_sizes: tuple[int, ...] = attrs.field(converter=lambda s: tuple(int(x) for x in s))

    def __attrs_post_init__(self) -> None:
        if self.codes.ndim != 2:
            raise ValueError(f"SID codes must be 2-D [n_items, L], got shape {self.codes.shape}")
        if self.codes.shape[1] != len(self.codebook_sizes):
            raise ValueError(
                f"SID codes have {self.codes.shape[1]} levels but {len(self.codebook_sizes)} codebook sizes"
            )
        if len(self.codes):
            lo = self.codes.min(axis=0)
            hi = self.codes.max(axis=0)
            for level, (a, b, w) in enumerate(zip(lo, hi, self.codebook_sizes, strict=False)):
                if a < 0 or b >= w:
                    raise ValueError(f"SID level {level} has codes in [{a}, {b}], outside [0, {w - 1}]")

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    @property
    def n_levels(self) -> int:
        return self.codes.shape[1]

    def item_to_sid(self, item: int) -> tuple[int, ...]:
        return tuple(int(c) for c in self.codes[item])

    def sid_to_items(self) -> dict[tuple[int, ...], list[int]]:
        """Map every SID to the item indices carrying it (more than one after a collision)."""
        out: dict[tuple[int, ...], list[int]] = {}
        for i, row in enumerate(self.codes.tolist()):
            out.setdefault(tuple(row), []).append(i)
        return out


@attrs.frozen(eq=False)
class EvalSet:
    """Evaluation examples: for example ``j``, user ``users[j]`` with item history
    ``histories[j]`` (oldest first) and positive items ``targets[j]`` (one for
    leave-one-out, several for block-based future prediction)."""

    users: np.ndarray = attrs.field(converter=_as_int64)
    histories: Ragged
    targets: Ragged

    def __attrs_post_init__(self) -> None:
        if not (len(self.users) == len(self.histories) == len(self.targets)):
            raise ValueError("EvalSet users, histories and targets must have the same length")

    def __len__(self) -> int:
        return len(self.users)

    def take(self, rows: np.ndarray) -> EvalSet:
        """Examples ``rows`` (in that order) as a new EvalSet."""
        rows = _as_int64(rows)
        return EvalSet(self.users[rows], self.histories.take(rows), self.targets.take(rows))


@attrs.frozen(eq=False)
class SplitData:
    """A split: per-user training sequences (item indices, chronological), validation
    and test examples, and the catalog size the rankings are over.

    ``train_users[r]`` is the user of training row ``r`` (default: ``r``).
    ``train_first_target[r]`` (optional) is the first position of training row ``r`` that
    is a training target; the items before it are context only (a continual fine-tune
    on a new period keeps the user's recent history in front of it).
    """

    train: Ragged
    valid: EvalSet
    test: EvalSet
    n_items: int
    name: str = "leave-one-out"
    train_users: np.ndarray | None = None
    train_first_target: np.ndarray | None = None


@attrs.frozen(eq=False)
class Rankings:
    """Top-K item indices per example, best first (``-1`` pads missing slots)."""

    items: np.ndarray = attrs.field(converter=_as_int64)
    scores: np.ndarray | None = None

    def __attrs_post_init__(self) -> None:
        if self.items.ndim != 2:
            raise ValueError(f"rankings must be 2-D [n_examples, K], got shape {self.items.shape}")

    @property
    def k(self) -> int:
        return self.items.shape[1]

    def __len__(self) -> int:
        return self.items.shape[0]
