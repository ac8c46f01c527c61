"""TIGER's de-dup digit: recomputed (never aligned) over the output, clamped at the old
capacity, counted; ``dedup="auto"`` follows the tokenizer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sidkit.context import Context
from sidkit.types import SIDTable
from sidkit_align.configs import AlignConfig, RebuildConfig
from sidkit_align.dedup import apply_dedup, dedup_digit, resolve_dedup, row_groups, shared_items
from sidkit_align.updaters import AlignUpdater, RebuildUpdater

SEMANTIC = np.array([[0, 0], [1, 1], [0, 0], [0, 0], [1, 1], [2, 2], [0, 0]])


def test_digit_numbers_equal_semantic_codes_in_row_order():
    np.testing.assert_array_equal(dedup_digit(SEMANTIC), [0, 0, 1, 2, 1, 0, 3])


def test_digit_is_clamped_at_capacity_and_the_collisions_are_counted():
    codes, counts = apply_dedup(SEMANTIC, "last", capacity=3)
    np.testing.assert_array_equal(codes[:, :2], SEMANTIC)
    np.testing.assert_array_equal(codes[:, 2], [0, 0, 1, 2, 1, 0, 2])  # row 6 (digit 3) clamped to 2
    # non-zero digits below 3: rows 2, 3, 4; rows 3 and 6 now share (0, 0, 2)
    assert counts == {"collisions_resolved": 3, "collisions_unresolved": 2}
    codes, counts = apply_dedup(SEMANTIC, "last", capacity=1)  # no room: every digit is 0
    np.testing.assert_array_equal(codes[:, 2], np.zeros(7))
    assert counts == {"collisions_resolved": 0, "collisions_unresolved": 6}
    codes, counts = apply_dedup(SEMANTIC, "none")
    np.testing.assert_array_equal(codes, SEMANTIC)
    assert counts == {"collisions_resolved": 0, "collisions_unresolved": 6}


def test_row_groups_and_shared_items_agree_with_a_dictionary_count():
    rng = np.random.default_rng(0)
    for codes in (rng.integers(0, 3, (200, 3)), rng.integers(0, 5, (60, 2)) * 2**20):
        keys = row_groups(codes)
        rows = [tuple(r) for r in codes.tolist()]
        assert all((keys[i] == keys[j]) == (rows[i] == rows[j]) for i in range(len(rows)) for j in range(i))
        expected = sum(rows.count(r) > 1 for r in rows)
        assert shared_items(codes) == expected
    wide = np.array([[2**40, 2**40, 1], [2**40, 2**40, 1], [0, 0, 0]])  # radix product overflows: unique() path
    np.testing.assert_array_equal(row_groups(wide) == row_groups(wide)[0], [True, True, False])


def test_align_recomputes_the_digit_instead_of_aligning_it():
    # two semantic levels relabelled by 0<->1, then a de-dup digit; the refreshed digit column
    # is deliberately garbage (all 4): it must be ignored, not mapped
    previous = SIDTable([[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 0, 0]], (2, 2, 2))
    refreshed = SIDTable([[1, 1, 4], [1, 1, 4], [0, 0, 4], [0, 1, 4], [1, 1, 4], [0, 0, 4]], (2, 2, 5))
    table, report = AlignUpdater(AlignConfig(dedup="last")).update(previous, refreshed, None)
    # semantic: [0,0] [0,0] [1,1] [1,0] (overlap, as before) then new items [0,0] [1,1]
    np.testing.assert_array_equal(table.codes[:, :2], [[0, 0], [0, 0], [1, 1], [1, 0], [0, 0], [1, 1]])
    # digit: [0,0] gets 0, 1, then 2 -> clamped to 1; [1,1] gets 0, 1
    np.testing.assert_array_equal(table.codes[:, 2], [0, 1, 0, 0, 1, 1])
    assert table.codebook_sizes == (2, 2, 2)
    assert report["dedup"] == "last" and len(report["levels"]) == 2
    assert report["collisions_resolved"] == 2 and report["collisions_unresolved"] == 2
    assert report["changed_rate"] == 0.0


def test_rebuild_recomputes_the_digit_with_the_same_rule():
    previous = SIDTable([[0, 0, 0], [0, 0, 1]], (2, 2, 2))
    refreshed = SIDTable([[1, 1, 0], [1, 1, 1], [1, 1, 2], [0, 1, 0]], (2, 2, 3))
    table, report = RebuildUpdater(RebuildConfig(dedup="last")).update(previous, refreshed, None)
    np.testing.assert_array_equal(table.codes, [[1, 1, 0], [1, 1, 1], [1, 1, 1], [0, 1, 0]])
    assert report == {
        "updater": "rebuild",
        "rows": "refreshed",
        "dedup": "last",
        "n_overlap": 2,
        "n_new_items": 2,
        "changed_rate": 1.0,
        "collisions_resolved": 1,
        "collisions_unresolved": 2,
    }


def test_the_digit_level_may_grow_but_a_semantic_level_may_not():
    previous = SIDTable([[0, 0], [0, 0]], (2, 1))
    refreshed = SIDTable([[0, 0], [0, 1], [0, 2]], (2, 3))
    table, report = AlignUpdater(AlignConfig(dedup="last")).update(previous, refreshed, None)
    np.testing.assert_array_equal(table.codes, [[0, 0], [0, 0], [0, 0]])  # capacity 1
    assert report["collisions_unresolved"] == 3
    with pytest.raises(
        Exception, match="level 1 of the refreshed SIDs has codebook size 3, larger than the previous size 1"
    ):
        AlignUpdater(AlignConfig(dedup="none")).update(previous, refreshed, None)


def test_auto_follows_the_tokenizers_dedup_setting():
    digit = Context(tokenizer=SimpleNamespace(config=SimpleNamespace(dedup="digit")))
    random_ = Context(tokenizer=SimpleNamespace(config=SimpleNamespace(dedup="random")))
    assert resolve_dedup("auto", digit) == "last"
    assert resolve_dedup("auto", random_) == "none"
    assert resolve_dedup("auto", Context(tokenizer=object())) == "none"
    assert resolve_dedup("auto", None) == "none"
    assert resolve_dedup("none", digit) == "none" and resolve_dedup("last", None) == "last"
    previous = SIDTable([[0, 0], [0, 1], [1, 0]], (2, 2))
    refreshed = SIDTable([[1, 0], [1, 0], [0, 0]], (2, 2))
    table, report = AlignUpdater(AlignConfig()).update(previous, refreshed, digit)
    assert report["dedup"] == "last" and len(report["levels"]) == 1
    np.testing.assert_array_equal(table.codes, [[0, 0], [0, 1], [1, 0]])  # digit recomputed
    table, report = AlignUpdater(AlignConfig()).update(previous, refreshed, random_)
    assert report["dedup"] == "none" and len(report["levels"]) == 2
    np.testing.assert_array_equal(table.codes, [[0, 0], [0, 0], [1, 0]])  # level 1 aligned: 0 -> 0


def test_dedup_last_needs_a_semantic_level():
    table = SIDTable([[0], [1]], (2,))
    with pytest.raises(Exception, match="dedup 'last' needs at least one semantic level"):
        RebuildUpdater(RebuildConfig(dedup="last")).update(table, table, None)
