"""SID-change diagnostics: relabeling versus re-grouping."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit_diger.diagnostics import adjusted_rand, sid_change


def test_adjusted_rand_matches_a_hand_computed_value():
    # contingency pairs 1; row pairs 2; column pairs 1; 6 pairs in all:
    # expected 2 * 1 / 6 = 1/3, max (2 + 1) / 2 = 1.5 -> (1 - 1/3) / (1.5 - 1/3) = 4/7
    assert adjusted_rand(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])) == pytest.approx(4 / 7)


def test_a_relabeling_changes_every_code_but_keeps_the_grouping():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 8, size=(500, 3))
    relabeled = np.stack([np.roll(np.arange(8), 1)[codes[:, lv]] for lv in range(3)], 1)
    change = sid_change(codes, relabeled, 3)
    assert change["changed_per_level"] == [1.0, 1.0, 1.0]
    assert change["prefix_ari"] == pytest.approx([1.0, 1.0, 1.0])


def test_unrelated_groupings_score_near_zero_and_moving_one_level_lowers_only_deeper_prefixes():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 8, size=(4000, 2))
    other = codes.copy()
    other[:, 1] = rng.integers(0, 8, size=4000)  # level 2 redrawn, level 1 kept
    change = sid_change(codes, other, 2)
    assert change["changed_per_level"][0] == 0.0
    assert change["prefix_ari"][0] == 1.0
    assert abs(change["prefix_ari"][1]) < 0.2
    assert abs(adjusted_rand(codes[:, 1], other[:, 1])) < 0.01


def test_mismatched_tables_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match=r"\(3, 2\) and \(4, 2\)"):
        sid_change(np.zeros((3, 2)), np.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="same items"):
        adjusted_rand(np.zeros(3), np.zeros(4))
