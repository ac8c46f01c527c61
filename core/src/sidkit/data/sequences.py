"""Training examples from per-user sequences, vectorised over all rows.

The sliding and causal windows are *indices*, not copies: :class:`SlidingWindows` and
:class:`CausalWindowIndex` keep the training sequences and per-sequence counts, and build the
rows of a batch on demand by index arithmetic, so an epoch over ``N`` interactions costs
``O(n_sequences)`` memory beyond the sequences themselves instead of ``O(N * max_len)``.
:func:`sliding_windows` and :func:`causal_windows` return every row at once (small data, tests).
"""

from __future__ import annotations

import hashlib

import attrs
import numpy as np

from ..types import Ragged

__all__ = [
    "ragged_slices",
    "SlidingWindows",
    "CausalWindowIndex",
    "sliding_windows",
    "last_only",
    "causal_windows",
    "trim_left_padding",
]


def ragged_slices(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Ragged:
    """Row ``i`` = ``values[starts[i]:ends[i]]`` (empty where ``ends <= starts``)."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.maximum(np.asarray(ends, dtype=np.int64) - starts, 0)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    idx = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return Ragged(np.asarray(values)[idx], offsets)


def _examples(train: Ragged, ends: np.ndarray, rows: np.ndarray, max_len: int) -> tuple[Ragged, np.ndarray]:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    starts = np.maximum(train.offsets[rows], ends - max_len)
    return ragged_slices(train.values, starts, ends), train.values[ends]


def _check_first_target(train: Ragged, first_target: np.ndarray | None) -> np.ndarray | None:
    if first_target is None:
        return None
    first_target = np.asarray(first_target, dtype=np.int64)
    if first_target.shape != (len(train),):
        raise ValueError(
            f"first_target must have one entry per sequence ({len(train)}), got shape {first_target.shape}"
        )
    return first_target


def _index_digest(kind: str, max_len: int, train: Ragged, cum: np.ndarray, first: np.ndarray | None) -> str:
    """sha256 (20 hex digits) of what a window index's samples are made of."""
    h = hashlib.sha256(f"{kind}:{max_len}".encode())
    for array in (train.values, train.offsets, cum) + (() if first is None else (first,)):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:20]


def _cumulative(counts: np.ndarray) -> np.ndarray:
    cum = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=cum[1:])
    return cum


def _locate(cum: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sequence, rank within it)`` of samples ``rows`` numbered sequence by sequence."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= cum[-1]):
        raise IndexError(f"sample index out of range 0..{int(cum[-1]) - 1}")
    seq = np.searchsorted(cum, rows, side="right") - 1
    return seq, rows - cum[seq]


@attrs.frozen(eq=False)
class SlidingWindows:
    """Every prefix of every sequence as an example (see :func:`sliding_windows`), as an index.

    Sample ``j`` (numbered sequence by sequence, then by position) is found by a binary
    search of ``j`` in the cumulative per-sequence counts ``cum``: its target is item
    ``first[s] + (j - cum[s])`` of sequence ``s`` and its input the ``max_len`` items before.
    Nothing per sample is stored.
    """

    train: Ragged
    max_len: int
    first: np.ndarray  # per sequence: position of its first target
    cum: np.ndarray  # [n_sequences + 1]: samples before each sequence

    @classmethod
    def build(
        cls, train: Ragged, max_len: int, min_len: int = 2, first_target: np.ndarray | None = None
    ) -> SlidingWindows:
        """The windows of :func:`sliding_windows` (same arguments, same order)."""
        if min_len < 2:
            raise ValueError(f"min_len must be >= 2 (a prefix of at least one item), got {min_len}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        first = np.full(len(train), min_len - 1, dtype=np.int64)
        first_target = _check_first_target(train, first_target)
        if first_target is not None:
            first = np.maximum(first, first_target)
        counts = np.maximum(train.lengths - first, 0)
        return cls(train, int(max_len), first, _cumulative(counts))

    def __len__(self) -> int:
        return int(self.cum[-1])

    def digest(self) -> str:
        """A digest of the samples (sequences, ``max_len``, first targets): equal digests,
        equal samples. Resumable training compares it."""
        return _index_digest("sliding", self.max_len, self.train, self.cum, self.first)

    @property
    def counts(self) -> np.ndarray:
        """Samples of each sequence."""
        return np.diff(self.cum)

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sequence, end)`` of samples ``rows``: the target is ``train.values[end]``, the
        input ``train.values[max(start of sequence, end - max_len):end]``."""
        seq, rank = _locate(self.cum, rows)
        return seq, self.train.offsets[seq] + self.first[seq] + rank

    def targets(self, rows: np.ndarray) -> np.ndarray:
        return self.train.values[self.locate(rows)[1]]

    def inputs(self, rows: np.ndarray) -> Ragged:
        """The inputs of samples ``rows`` (at most ``max_len`` items, oldest first)."""
        seq, end = self.locate(rows)
        return ragged_slices(self.train.values, np.maximum(self.train.offsets[seq], end - self.max_len), end)

    def padded(self, rows: np.ndarray, width: int | None = None, pad: int = -1) -> np.ndarray:
        """``[len(rows), width]`` inputs of samples ``rows``, left-padded with ``pad`` (the last
        ``width`` items of each input; ``width`` defaults to ``max_len``): what
        ``inputs(rows).to_padded(width)`` gives, without building the Ragged."""
        width = self.max_len if width is None else int(width)
        seq, end = self.locate(rows)
        start = np.maximum(self.train.offsets[seq], end - self.max_len)
        idx = end[:, None] - width + np.arange(width)[None, :]
        real = idx >= start[:, None]
        out = np.full((len(end), width), pad, dtype=np.int64)
        out[real] = self.train.values[idx[real]]
        return out

    def lengths(self) -> np.ndarray:
        """Input items of every sample (``min(position, max_len)``), int32: one small array
        for length-grouped batching."""
        counts = self.counts
        n = len(self)
        dtype = np.int32 if n < 2**31 - 1 else np.int64
        base = np.repeat((self.cum[:-1] - self.first).astype(dtype), counts)
        out = np.arange(n, dtype=dtype)
        out -= base
        np.minimum(out, self.max_len, out=out)
        return out


def sliding_windows(
    train: Ragged, max_len: int, min_len: int = 2, first_target: np.ndarray | None = None
) -> tuple[Ragged, np.ndarray]:
    """Every prefix of every sequence as an example: ``[a, b, c, d]`` gives ``[a] -> b``,
    ``[a, b] -> c``, ``[a, b, c] -> d``. Inputs keep their last ``max_len`` items; prefix
    plus target must be at least ``min_len`` long. ``first_target[i]`` (optional) is the
    first position of sequence ``i`` that may be a target: earlier items are context only
    (fine-tuning on a new period with the old history in front). Returns
    ``(inputs, targets)``, row by row, all materialised: for training, iterate over
    :class:`SlidingWindows` batches instead."""
    windows = SlidingWindows.build(train, max_len, min_len, first_target)
    every = np.arange(len(windows))
    return windows.inputs(every), windows.targets(every)


def last_only(train: Ragged, max_len: int) -> tuple[Ragged, np.ndarray]:
    """One example per sequence of length >= 2: its last ``max_len`` items before the last -> the last."""
    rows = np.flatnonzero(train.lengths >= 2)
    return _examples(train, train.offsets[rows + 1] - 1, rows, max_len)


@attrs.frozen(eq=False)
class CausalWindowIndex:
    """The windows of :func:`causal_windows` as an index: window ``w`` is the ``back``-th
    window (counted from the end) of sequence ``s``, found by a binary search in the
    cumulative per-sequence window counts ``cum``; its items and targets are computed when
    asked for."""

    train: Ragged
    max_len: int
    first_target: np.ndarray | None
    cum: np.ndarray  # [n_sequences + 1]: windows before each sequence

    @classmethod
    def build(cls, train: Ragged, max_len: int, first_target: np.ndarray | None = None) -> CausalWindowIndex:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        first_target = _check_first_target(train, first_target)
        lengths = train.lengths
        counts = np.where(lengths >= 2, -(-(lengths - 1) // max_len), 0)  # ceil((len - 1) / max_len)
        if first_target is not None:
            # window ``back`` ends at item len - back*max_len - 1, a target iff its position
            # >= first_target (every window holds >= 2 items): the first windows from the end
            with_target = (lengths - 1 - np.maximum(first_target, 0)) // max_len + 1
            counts = np.clip(with_target, 0, counts)
        return cls(train, int(max_len), first_target, _cumulative(counts))

    def __len__(self) -> int:
        return int(self.cum[-1])

    def digest(self) -> str:
        """A digest of the windows (sequences, ``max_len``, first targets): equal digests,
        equal windows. Resumable training compares it."""
        return _index_digest("causal", self.max_len, self.train, self.cum, self.first_target)

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sequence, end)`` of windows ``rows``: the window is the (at most ``max_len + 1``)
        items of the sequence before ``end`` (an index into ``train.values``)."""
        seq, back = _locate(self.cum, rows)
        return seq, self.train.offsets[seq + 1] - back * self.max_len

    def lengths(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Items of each window (of windows ``rows``, default all)."""
        seq, end = self.locate(np.arange(len(self)) if rows is None else rows)
        return np.minimum(end - self.train.offsets[seq], self.max_len + 1)

    def windows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sequences, items, is_target)`` of windows ``rows``, as :func:`causal_windows`."""
        seq, end = self.locate(rows)
        seq_start = self.train.offsets[seq]
        width = self.max_len + 1
        idx = end[:, None] - width + np.arange(width)[None, :]
        real = idx >= seq_start[:, None]
        win_start = np.maximum(seq_start, end - width)
        is_target = real & (idx > win_start[:, None])
        if self.first_target is not None:
            is_target &= (idx - seq_start[:, None]) >= self.first_target[seq][:, None]
        items = np.full(idx.shape, -1, dtype=np.int64)
        items[real] = self.train.values[idx[real]]
        return seq, items, is_target

    def n_targets(self) -> int:
        """Target items over all windows (those of :func:`sliding_windows`)."""
        seq, end = self.locate(np.arange(len(self)))
        start = np.maximum(self.train.offsets[seq], end - self.max_len - 1) + 1
        if self.first_target is not None:
            start = np.maximum(start, self.train.offsets[seq] + self.first_target[seq])
        return int(np.maximum(end - start, 0).sum())


def causal_windows(
    train: Ragged, max_len: int, first_target: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of at most ``max_len + 1`` items for causal models that train every position
    in one pass (SASRec-style): each sequence is cut from its end backwards so that
    consecutive windows overlap by one item, and every transition ``item -> next item`` lies
    in exactly one window (the window's first item is context only).

    Returns ``(rows, items, is_target)``: ``rows[w]`` is the sequence of window ``w``;
    ``items[w]`` its ``[max_len + 1]`` items, left-padded with -1; ``is_target[w, c]`` is
    true for the items that window trains on. ``first_target[i]`` (optional) is the first
    position of sequence ``i`` that may be a target, as in :func:`sliding_windows`; windows
    left without a target are dropped. Over all windows, the targets are exactly the
    targets of :func:`sliding_windows`. All windows at once: :class:`CausalWindowIndex`
    builds them batch by batch."""
    index = CausalWindowIndex.build(train, max_len, first_target)
    return index.windows(np.arange(len(index)))


def trim_left_padding(tokens: np.ndarray, *aligned: np.ndarray, pad: int):
    """Drop the leading columns of a left-padded batch (e.g. from
    :meth:`sidkit.types.Ragged.to_padded`) that are ``pad`` in every row, keeping at least
    the last column, so a batch of short histories costs only its longest row. The same
    columns are dropped from every array of ``aligned`` (same width). Returns ``tokens``
    alone, or ``(tokens, *aligned)`` when ``aligned`` is given."""
    used = np.flatnonzero((tokens != pad).any(axis=0))
    first = int(used[0]) if len(used) else tokens.shape[1] - 1
    return tokens[:, first:] if not aligned else (tokens[:, first:], *(a[:, first:] for a in aligned))
