"""Lazy windows (:class:`SlidingWindows`, :class:`CausalWindowIndex`) equal the materialised
windows of the previous implementation, kept here as the oracle: every sample, every batch."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import CausalWindowIndex, SlidingWindows, causal_windows, sliding_windows
from sidkit.types import Ragged


# -- the materialising implementation these replaced (sidkit 0.1, before issue 18) --------------
def _slices(values, starts, ends):
    lengths = np.maximum(ends - starts, 0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    idx = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return Ragged(values[idx], offsets)


def old_sliding(train, max_len, min_len=2, first_target=None):
    rows = np.repeat(np.arange(len(train)), train.lengths)
    position = np.arange(len(train.values)) - train.offsets[rows]
    keep = position >= min_len - 1
    if first_target is not None:
        keep &= position >= np.asarray(first_target)[rows]
    ends = np.flatnonzero(keep)
    starts = np.maximum(train.offsets[rows[ends]], ends - max_len)
    return _slices(train.values, starts, ends), train.values[ends], rows[ends]


def old_causal(train, max_len, first_target=None):
    lengths = train.lengths
    rows = np.flatnonzero(lengths >= 2)
    per_row = -(-(lengths[rows] - 1) // max_len)
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
        is_target &= (idx - seq_start[:, None]) >= np.asarray(first_target)[rows][:, None]
    items = np.where(real, train.values[np.clip(idx, 0, max(len(train.values) - 1, 0))], -1)
    keep = is_target.any(axis=1)
    return rows[keep], items[keep], is_target[keep]


# ----------------------------------------------------------------------------------------------
def random_train(seed: int, n: int = 300, longest: int = 45) -> Ragged:
    rng = np.random.default_rng(seed)
    return Ragged.from_lists([rng.integers(0, 500, k) for k in rng.integers(0, longest, n)])


def batches(n: int, seed: int, size: int = 37):
    perm = np.random.default_rng(seed).permutation(n)
    return np.split(perm, range(size, n, size))


CASES = [
    (seed, max_len, min_len, with_first)
    for seed in range(3)
    for max_len in (1, 3, 20)
    for min_len in (2, 4)
    for with_first in (False, True)
]


@pytest.mark.parametrize(("seed", "max_len", "min_len", "with_first"), CASES)
def test_sliding_windows_lazy_equal_materialised(seed, max_len, min_len, with_first):
    train = random_train(seed)
    first = np.random.default_rng(seed + 9).integers(-1, 30, len(train)) if with_first else None
    inputs, targets, seqs = old_sliding(train, max_len, min_len, first)
    lazy = SlidingWindows.build(train, max_len, min_len, first)
    assert len(lazy) == len(targets)
    every = np.arange(len(lazy))
    assert np.array_equal(lazy.locate(every)[0], seqs)
    assert np.array_equal(lazy.lengths(), inputs.lengths)
    for rows in batches(len(lazy), seed):
        assert np.array_equal(lazy.targets(rows), targets[rows])
        got = lazy.inputs(rows)
        want = inputs.take(rows)
        assert np.array_equal(got.values, want.values) and np.array_equal(got.offsets, want.offsets)
        for width in (max_len, max_len + 2):
            assert np.array_equal(lazy.padded(rows, width), inputs.to_padded(width, rows=rows))
    new_inputs, new_targets = sliding_windows(train, max_len, min_len, first)
    assert np.array_equal(new_inputs.values, inputs.values) and np.array_equal(new_targets, targets)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("max_len", [1, 2, 5, 20])
@pytest.mark.parametrize("with_first", [False, True])
def test_causal_windows_lazy_equal_materialised(seed, max_len, with_first):
    train = random_train(seed)
    first = np.random.default_rng(seed + 9).integers(-1, 30, len(train)) if with_first else None
    rows, items, is_target = old_causal(train, max_len, first)
    lazy = CausalWindowIndex.build(train, max_len, first)
    assert len(lazy) == len(rows)
    assert np.array_equal(lazy.lengths(), (items >= 0).sum(axis=1))
    assert lazy.n_targets() == int(is_target.sum()) == len(old_sliding(train, max_len, 2, first)[1])
    for batch in batches(len(lazy), seed):
        seq, got_items, got_target = lazy.windows(batch)
        assert np.array_equal(seq, rows[batch])
        assert np.array_equal(got_items, items[batch])
        assert np.array_equal(got_target, is_target[batch])
    new = causal_windows(train, max_len, first)
    assert all(np.array_equal(a, b) for a, b in zip(new, (rows, items, is_target), strict=True))


def test_lazy_windows_store_nothing_per_sample():
    lengths = np.full(1000, 50)
    train = Ragged(np.arange(lengths.sum()), np.concatenate([[0], np.cumsum(lengths)]))
    lazy = SlidingWindows.build(train, 20)
    per_sequence = sum(a.nbytes for a in (lazy.first, lazy.cum))
    assert len(lazy) == 49_000 and per_sequence < 20 * len(train)
    assert lazy.padded(np.array([0, 48_999]), 3).tolist() == [[-1, -1, 0], [49_996, 49_997, 49_998]]


def test_out_of_range_sample_is_an_error():
    lazy = SlidingWindows.build(Ragged.from_lists([[1, 2, 3]]), 5)
    with pytest.raises(IndexError, match="out of range"):
        lazy.targets(np.array([2]))


def test_index_digest_changes_with_whatever_changes_the_samples():
    """Resumable training compares digests: equal data, equal digest; a changed item,
    ``max_len``, first target or window kind, another digest."""
    train = Ragged.from_lists([[1, 2, 3, 4], [5, 6, 7], [8, 9]])
    first = np.array([0, 2, 1])
    for kind in (SlidingWindows, CausalWindowIndex):
        base = kind.build(train, 2, first_target=first).digest()
        assert kind.build(Ragged(train.values.copy(), train.offsets.copy()), 2, first_target=first.copy()).digest() == base
        changed = Ragged(np.where(train.values == 6, 60, train.values), train.offsets)
        others = {
            kind.build(changed, 2, first_target=first).digest(),
            kind.build(train, 3, first_target=first).digest(),
            kind.build(train, 2, first_target=np.array([2, 2, 1])).digest(),
            kind.build(train, 2).digest(),
        }
        assert base not in others and len(others) == 4
    assert SlidingWindows.build(train, 2).digest() != CausalWindowIndex.build(train, 2).digest()
