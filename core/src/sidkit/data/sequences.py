"""Training examples from per-user sequences, vectorised over all rows."""

from __future__ import annotations

import numpy as np

from ..types import Ragged

__all__ = ["ragged_slices", "sliding_windows", "last_only", "causal_windows", "trim_left_padding"]


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


def sliding_windows(
    train: Ragged, max_len: int, min_len: int = 2, first_target: np.ndarray | None = None
) -> tuple[Ragged, np.ndarray]:
    """Every prefix of every sequence as an example: ``[a, b, c, d]`` gives ``[a] -> b``,
    ``[a, b] -> c``, ``[a, b, c] -> d``. Inputs keep their last ``max_len`` items; prefix
    plus target must be at least ``min_len`` long. ``first_target[i]`` (optional) is the
    first position of sequence ``i`` that may be a target: earlier items are context only
    (fine-tuning on a new period with the old history in front). Returns
    ``(inputs, targets)``, row by row."""
    if min_len < 2:
        raise ValueError(f"min_len must be >= 2 (a prefix of at least one item), got {min_len}")
    rows = np.repeat(np.arange(len(train)), train.lengths)
    position = np.arange(len(train.values)) - train.offsets[rows]
    keep = position >= min_len - 1
    if first_target is not None:
        first_target = np.asarray(first_target, dtype=np.int64)
        if first_target.shape != (len(train),):
            raise ValueError(f"first_target must have one entry per sequence ({len(train)}), got shape {first_target.shape}")
        keep &= position >= first_target[rows]
    ends = np.flatnonzero(keep)
    return _examples(train, ends, rows[ends], max_len)


def last_only(train: Ragged, max_len: int) -> tuple[Ragged, np.ndarray]:
    """One example per sequence of length >= 2: its last ``max_len`` items before the last -> the last."""
    rows = np.flatnonzero(train.lengths >= 2)
    return _examples(train, train.offsets[rows + 1] - 1, rows, max_len)


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
    targets of :func:`sliding_windows`."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    lengths = train.lengths
    rows = np.flatnonzero(lengths >= 2)
    per_row = -(-(lengths[rows] - 1) // max_len)  # ceil((len - 1) / max_len)
    which = np.repeat(np.arange(len(rows)), per_row)
    back = np.arange(len(which)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    rows = rows[which]
    seq_start = train.offsets[rows]
    ends = train.offsets[rows + 1] - back * max_len
    width = max_len + 1
    idx = ends[:, None] - width + np.arange(width)[None, :]
    real = idx >= seq_start[:, None]
    win_start = np.maximum(seq_start, ends - width)
    is_target = real & (idx > win_start[:, None])
    if first_target is not None:
        first_target = np.asarray(first_target, dtype=np.int64)
        if first_target.shape != (len(train),):
            raise ValueError(f"first_target must have one entry per sequence ({len(train)}), got shape {first_target.shape}")
        is_target &= (idx - seq_start[:, None]) >= first_target[rows][:, None]
    items = np.where(real, train.values[np.clip(idx, 0, max(len(train.values) - 1, 0))], -1)
    keep = is_target.any(axis=1)
    return rows[keep], items[keep], is_target[keep]


def trim_left_padding(tokens: np.ndarray, *aligned: np.ndarray, pad: int):
    """Drop the leading columns of a left-padded batch (e.g. from
    :meth:`sidkit.types.Ragged.to_padded`) that are ``pad`` in every row, keeping at least
    the last column, so a batch of short histories costs only its longest row. The same
    columns are dropped from every array of ``aligned`` (same width). Returns ``tokens``
    alone, or ``(tokens, *aligned)`` when ``aligned`` is given."""
    used = np.flatnonzero((tokens != pad).any(axis=0))
    first = int(used[0]) if len(used) else tokens.shape[1] - 1
    return tokens[:, first:] if not aligned else (tokens[:, first:], *(a[:, first:] for a in aligned))
