"""Padded histories: :meth:`sidkit.types.Ragged.to_padded` (the one helper every generator
batches histories with) and :func:`sidkit.data.trim_left_padding`."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import trim_left_padding
from sidkit.types import Ragged


def reference(rows: list[list[int]], max_len: int, pad: int, left: bool) -> np.ndarray:
    """Row by row: the last ``max_len`` entries, padded with ``pad`` on one side."""
    out = np.full((len(rows), max_len), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        kept = row[len(row) - min(len(row), max_len) :]
        if kept:
            if left:
                out[i, max_len - len(kept) :] = kept
            else:
                out[i, : len(kept)] = kept
    return out


def test_left_and_right_padding_exact():
    hist = Ragged.from_lists([[1, 2, 3, 4], [], [5], [6, 7]])
    assert hist.to_padded(3).tolist() == [[2, 3, 4], [-1, -1, -1], [-1, -1, 5], [-1, 6, 7]]
    assert hist.to_padded(3, pad=0, left=False).tolist() == [[2, 3, 4], [0, 0, 0], [5, 0, 0], [6, 7, 0]]
    assert hist.to_padded(3, rows=np.array([3, 0, 3])).tolist() == [[-1, 6, 7], [2, 3, 4], [-1, 6, 7]]
    out = hist.to_padded(2)
    assert out.dtype == np.int64 and out.shape == (4, 2)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("pad", [-1, 0, 99])
def test_matches_the_row_by_row_reference(left, pad):
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 50, n).tolist() for n in rng.integers(0, 12, 200)]
    hist = Ragged.from_lists(rows)
    for max_len in (1, 5, 11, 20):
        np.testing.assert_array_equal(hist.to_padded(max_len, pad, left=left), reference(rows, max_len, pad, left))
        pick = rng.integers(0, len(rows), 37)
        np.testing.assert_array_equal(
            hist.to_padded(max_len, pad, left=left, rows=pick), reference([rows[i] for i in pick], max_len, pad, left)
        )


def test_edge_cases():
    assert Ragged.from_lists([]).to_padded(4).shape == (0, 4)
    assert Ragged.from_lists([[], []]).to_padded(2).tolist() == [[-1, -1], [-1, -1]]
    assert Ragged.from_lists([[1, 2]]).to_padded(0).shape == (1, 0)
    assert Ragged.from_lists([[1, 2]]).to_padded(3, rows=np.zeros(0, dtype=np.int64)).shape == (0, 3)


def test_trim_left_padding():
    tokens = np.array([[0, 0, 3, 4], [0, 0, 0, 5]])
    assert trim_left_padding(tokens, pad=0).tolist() == [[3, 4], [0, 5]]
    mask = tokens > 3
    trimmed, trimmed_mask = trim_left_padding(tokens, mask, pad=0)
    assert trimmed.tolist() == [[3, 4], [0, 5]] and trimmed_mask.tolist() == [[False, True], [False, True]]
    assert trim_left_padding(np.zeros((2, 3), dtype=np.int64), pad=0).shape == (2, 1)  # one column stays
    assert trim_left_padding(np.array([[1, 2]]), pad=0).tolist() == [[1, 2]]
    assert trim_left_padding(Ragged.from_lists([[7], [8, 9]]).to_padded(4), pad=-1).tolist() == [[-1, 7], [8, 9]]
