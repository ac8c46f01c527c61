"""Co-occurrence counts, the two matchings and the completion rule, on hand-made and
random matrices (brute force as the reference optimum)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sidkit_align.matching import complete_mapping, cooccurrence, match, match_greedy, match_hungarian


def weight(W, pairs):
    return int(sum(W[a, b] for a, b in pairs))


def brute_force_optimum(W):
    """Largest total weight of a one-to-one matching (W is non-negative, so a full
    injection of the smaller side is never worse than a partial one)."""
    W = np.asarray(W)
    if W.shape[0] > W.shape[1]:
        W = W.T
    return max(
        sum(W[i, j] for i, j in enumerate(cols)) for cols in itertools.permutations(range(W.shape[1]), W.shape[0])
    )


def assert_valid_matching(W, pairs):
    assert len(set(pairs[:, 0].tolist())) == len(pairs) and len(set(pairs[:, 1].tolist())) == len(pairs)
    assert all(W[a, b] > 0 for a, b in pairs)
    assert list(pairs[:, 0]) == sorted(pairs[:, 0])


def test_cooccurrence_counts_every_new_old_pair():
    new = np.array([0, 0, 1, 2, 2, 2, 0])
    old = np.array([1, 1, 0, 3, 3, 1, 2])
    W = cooccurrence(new, old, 3, 4)
    expected = np.zeros((3, 4), dtype=np.int64)
    for a, b in zip(new, old, strict=True):
        expected[a, b] += 1
    np.testing.assert_array_equal(W, expected)
    assert W.dtype == np.int64 and W.sum() == len(new)


def test_cooccurrence_rejects_tokens_outside_the_vocabulary_and_unpaired_columns():
    with pytest.raises(ValueError, match="old_col has tokens in \\[0, 4\\], outside \\[0, 3\\]"):
        cooccurrence(np.array([0, 1]), np.array([0, 4]), 2, 4)
    with pytest.raises(ValueError, match="same items"):
        cooccurrence(np.array([0, 1]), np.array([0]), 2, 4)


def test_greedy_takes_heaviest_pairs_first_and_breaks_ties_by_new_then_old():
    W = np.array(
        [
            [3, 3, 0],
            [3, 1, 0],
            [0, 2, 2],
        ]
    )
    # order: (0,0,3) (0,1,3) (1,0,3) (2,1,2) (2,2,2) (1,1,1): accept (0,0), then (2,1); new 1 stays free
    np.testing.assert_array_equal(match_greedy(W), [[0, 0], [2, 1]])
    # the same weights with the rows swapped: now new 0 is the row [3, 1, 0] and wins old 0 first
    np.testing.assert_array_equal(match_greedy(W[[1, 0, 2]]), [[0, 0], [1, 1], [2, 2]])
    # a tie between two old tokens for one new token goes to the smaller old token
    np.testing.assert_array_equal(match_greedy(np.array([[0, 4, 4], [0, 0, 0]])), [[0, 1]])


def test_hungarian_finds_the_optimum_greedy_misses():
    W = np.array([[3, 3, 0], [3, 1, 0], [0, 2, 2]])
    pairs = match_hungarian(W)
    np.testing.assert_array_equal(pairs, [[0, 1], [1, 0], [2, 2]])
    assert weight(W, pairs) == 8 > weight(W, match_greedy(W)) == 5


def test_hungarian_drops_assigned_pairs_of_weight_zero():
    W = np.array([[5, 1], [3, 0]])  # optimum (0,0)+(1,1) = 5 assigns (1,1) with weight 0
    np.testing.assert_array_equal(match_hungarian(W), [[0, 0]])
    assert match_hungarian(np.zeros((3, 3), dtype=np.int64)).shape == (0, 2)
    assert match_greedy(np.zeros((3, 3), dtype=np.int64)).shape == (0, 2)


@pytest.mark.parametrize("seed", range(40))
def test_hungarian_is_optimal_and_at_least_greedy_on_random_tiny_matrices(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 6, 2))
    W = rng.integers(0, 6, shape) * (rng.random(shape) < 0.6)
    hungarian, greedy = match_hungarian(W), match_greedy(W)
    assert_valid_matching(W, hungarian)
    assert_valid_matching(W, greedy)
    assert weight(W, hungarian) == brute_force_optimum(W) >= weight(W, greedy)
    # greedy is maximal: every positive pair has an endpoint already taken
    taken_new, taken_old = set(greedy[:, 0].tolist()), set(greedy[:, 1].tolist())
    assert all(a in taken_new or b in taken_old for a, b in zip(*np.nonzero(W), strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_hungarian_weight_at_least_greedy_on_larger_random_matrices(seed):
    rng = np.random.default_rng(100 + seed)
    W = rng.poisson(0.7, (60, 70)) * (rng.random((60, 70)) < 0.3)
    assert weight(W, match(W, "hungarian")) >= weight(W, match(W, "greedy"))


def test_match_rejects_an_unknown_solver():
    with pytest.raises(ValueError, match="solver must be one of 'greedy', 'hungarian', got 'auction'"):
        match(np.ones((2, 2)), "auction")


def test_completion_pairs_leftover_new_tokens_with_leftover_active_then_unused_old_tokens():
    # size 6; matched 2 -> 4. Used new tokens 0, 2, 3; old tokens in use 1, 4, 5.
    # unmatched used new 0, 3 take leftover active old 1, 5; unused new 1, 4, 5 take the
    # never-used old 0, 2, 3.
    phi = complete_mapping(np.array([[2, 4]]), np.array([0, 2, 3]), np.array([1, 4, 5]), 6)
    np.testing.assert_array_equal(phi, [1, 0, 4, 5, 2, 3])
    # more unmatched used new tokens than leftover active old ones: the rest go to never-used
    phi = complete_mapping(np.zeros((0, 2)), np.array([1, 2, 3]), np.array([4]), 5)
    np.testing.assert_array_equal(phi, [2, 4, 0, 1, 3])


@pytest.mark.parametrize("seed", range(10))
def test_completion_is_a_permutation_that_keeps_the_matched_pairs(seed):
    rng = np.random.default_rng(seed)
    size = 12
    new = rng.integers(0, size, 50)
    old = rng.integers(0, 8, 50)  # old tokens 8..11 never used
    W = cooccurrence(new, old, size, size)
    pairs = match_greedy(W)
    phi = complete_mapping(pairs, np.unique(new), np.unique(old), size)
    np.testing.assert_array_equal(np.sort(phi), np.arange(size))
    np.testing.assert_array_equal(phi[pairs[:, 0]], pairs[:, 1])


def test_completion_rejects_pairs_that_are_not_one_to_one():
    with pytest.raises(ValueError, match="one-to-one"):
        complete_mapping(np.array([[0, 1], [2, 1]]), np.array([0, 2]), np.array([1]), 3)
