"""Training examples: sliding windows over every prefix, and one example per sequence."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import last_only, sliding_windows
from sidkit.types import Ragged


def test_sliding_windows_exact():
    train = Ragged.from_lists([[1, 2, 3, 4], [5], [6, 7]])
    inputs, targets = sliding_windows(train, max_len=2)
    assert [x.tolist() for x in inputs] == [[1], [1, 2], [2, 3], [6]]
    assert targets.tolist() == [2, 3, 4, 7]
    inputs, targets = sliding_windows(train, max_len=5, min_len=3)
    assert [x.tolist() for x in inputs] == [[1, 2], [1, 2, 3]] and targets.tolist() == [3, 4]


def test_sliding_windows_count_and_content():
    rng = np.random.default_rng(0)
    train = Ragged.from_lists([rng.integers(0, 100, n) for n in rng.integers(0, 40, 300)])
    inputs, targets = sliding_windows(train, max_len=7)
    assert len(inputs) == len(targets) == np.maximum(train.lengths - 1, 0).sum()
    expected = [(s[max(0, t - 7) : t].tolist(), s[t]) for s in train for t in range(1, len(s))]
    assert [(x.tolist(), int(y)) for x, y in zip(inputs, targets, strict=True)] == expected


def test_last_only():
    train = Ragged.from_lists([[1, 2, 3, 4], [5], [6, 7]])
    inputs, targets = last_only(train, max_len=2)
    assert [x.tolist() for x in inputs] == [[2, 3], [6]] and targets.tolist() == [4, 7]


def test_sliding_windows_on_a_large_input_counts_every_target():
    # its speed is not timed here (noisy machines): benchmarks/ measures throughput
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 40, 10_000)  # ~220k interactions
    train = Ragged(rng.integers(0, 12_000, lengths.sum()), np.concatenate([[0], np.cumsum(lengths)]))
    inputs, targets = sliding_windows(train, max_len=20)
    assert len(targets) == (lengths - 1).sum() and len(inputs) == len(targets)
    assert max(len(r) for r in inputs) == 20


def test_bad_arguments():
    train = Ragged.from_lists([[1, 2]])
    with pytest.raises(ValueError, match="min_len must be >= 2"):
        sliding_windows(train, max_len=5, min_len=1)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        sliding_windows(train, max_len=0)


def rows(r: Ragged) -> list[list[int]]:
    return [list(map(int, x)) for x in r]


class TestSlidingWindowsFirstTarget:
    TRAIN = Ragged.from_lists([[10, 11, 12, 13], [20, 21, 22], [30]])

    def test_without_first_target_every_prefix(self):
        inputs, targets = sliding_windows(self.TRAIN, max_len=10)
        assert rows(inputs) == [[10], [10, 11], [10, 11, 12], [20], [20, 21]]
        assert targets.tolist() == [11, 12, 13, 21, 22]

    def test_first_target_keeps_only_later_targets(self):
        # seq 0: targets from position 2 on (12, 13); seq 1: from position 1 (default); seq 2: none
        inputs, targets = sliding_windows(self.TRAIN, max_len=10, first_target=np.array([2, 1, 0]))
        assert rows(inputs) == [[10, 11], [10, 11, 12], [20], [20, 21]]
        assert targets.tolist() == [12, 13, 21, 22]

    def test_first_target_zero_equals_default(self):
        a_in, a_t = sliding_windows(self.TRAIN, max_len=10, first_target=np.zeros(3, dtype=np.int64))
        b_in, b_t = sliding_windows(self.TRAIN, max_len=10)
        assert rows(a_in) == rows(b_in) and a_t.tolist() == b_t.tolist()

    def test_first_target_beyond_length_gives_no_window_for_that_row(self):
        inputs, targets = sliding_windows(self.TRAIN, max_len=10, first_target=np.array([4, 2, 0]))
        assert rows(inputs) == [[20, 21]]
        assert targets.tolist() == [22]

    def test_context_is_truncated_to_max_len(self):
        inputs, targets = sliding_windows(self.TRAIN, max_len=2, first_target=np.array([3, 9, 9]))
        assert rows(inputs) == [[11, 12]]
        assert targets.tolist() == [13]

    def test_first_target_combines_with_min_len(self):
        # min_len 3 needs position >= 2; first_target 1 then does not add anything
        inputs, targets = sliding_windows(self.TRAIN, max_len=10, min_len=3, first_target=np.array([1, 1, 1]))
        assert targets.tolist() == [12, 13, 22]

    def test_shape_error_message(self):
        with pytest.raises(ValueError, match=r"first_target must have one entry per sequence \(3\), got shape \(2,\)"):
            sliding_windows(self.TRAIN, max_len=10, first_target=np.array([1, 2]))
        with pytest.raises(ValueError, match=r"one entry per sequence \(3\), got shape \(3, 1\)"):
            sliding_windows(self.TRAIN, max_len=10, first_target=np.ones((3, 1), dtype=np.int64))
