"""Relaxed-to-strict re-assignment on hand-worked tables."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.errors import SidkitError
from sidkit_dact.reassign import candidate_digits, change_rates, strict_sids


def test_candidate_digits_number_groups_in_row_order():
    codes = np.array([[1, 2], [3, 0], [1, 2], [1, 2], [3, 0], [0, 0]])
    assert candidate_digits(codes).tolist() == [0, 0, 1, 2, 1, 0]


def test_hand_worked_reassignment_with_collisions():
    # rows in item order; L = 2 semantic levels + a digit of 4 codes
    new = np.array([
        [1, 2],  # 0 old, layer 1 unchanged -> keeps (1, 2, 0)
        [1, 2],  # 1 old, layer 1 3 -> 1: changed; candidate (1, 2, 1) is row 2's kept SID -> smallest free digit
        [1, 5],  # 2 old, layer 1 unchanged -> keeps its whole old SID (1, 2, 1) although its layer 2 moved
        [1, 2],  # 3 new item; candidate (1, 2, 2) is free -> taken
        [2, 2],  # 4 old, layer 1 0 -> 2: changed; candidate (2, 2, 0) free
        [2, 2],  # 5 new item; candidate (2, 2, 1) free
    ])
    old = np.array([[1, 2, 0], [3, 0, 0], [1, 2, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    is_old = np.array([True, True, True, False, True, False])
    keep = is_old & (new[:, 0] == old[:, 0])
    assert keep.tolist() == [True, False, True, False, False, False]
    codes, counts = strict_sids(new, old, keep, digit_size=4)
    assert codes.tolist() == [[1, 2, 0], [1, 2, 3], [1, 2, 1], [1, 2, 2], [2, 2, 0], [2, 2, 1]]
    assert counts == {"collisions_repaired": 1}
    assert len(np.unique(codes, axis=0)) == len(codes)


def test_repair_never_moves_a_kept_row_and_names_a_full_prefix():
    new = np.array([[0, 0], [0, 0], [0, 0]])
    old = np.array([[0, 0, 1], [0, 0, 0], [9, 9, 9]])
    keep = np.array([True, True, False])
    codes, counts = strict_sids(new, old, keep, digit_size=3)
    assert codes.tolist() == [[0, 0, 1], [0, 0, 0], [0, 0, 2]] and counts["collisions_repaired"] == 0  # 2 was free
    with pytest.raises(SidkitError, match=r"more than 2 items have the codes \(0, 0\).*dedup_size"):
        strict_sids(new, old, keep, digit_size=2, who="sid-updater dact")


def test_a_candidate_past_the_digit_vocabulary_is_repaired_into_it():
    new = np.array([[4, 4], [4, 4], [4, 4]])
    old = np.array([[4, 4, 1], [0, 0, 0], [0, 0, 0]])
    codes, counts = strict_sids(new, old, np.array([True, False, False]), digit_size=3)
    # row 1's candidate 1 is row 0's kept SID, row 2's candidate 2 is free: row 1 gets 0
    assert codes.tolist() == [[4, 4, 1], [4, 4, 0], [4, 4, 2]] and counts["collisions_repaired"] == 1


def test_without_a_digit_level_kept_rows_keep_and_others_take_new_codes():
    codes, counts = strict_sids(np.array([[1, 1], [2, 2]]), np.array([[5, 5], [6, 6]]), np.array([True, False]), None)
    assert codes.tolist() == [[5, 5], [2, 2]] and counts["collisions_repaired"] == 0


def test_change_rates_per_layer_and_overall():
    old = np.array([[0, 0, 0], [1, 1, 0], [2, 2, 0], [3, 3, 0]])
    new = np.array([[0, 0, 0], [1, 2, 0], [5, 2, 1], [3, 3, 0]])
    assert change_rates(old, new) == {"change_rate_per_layer": [0.25, 0.25, 0.25], "change_rate": 0.5}
