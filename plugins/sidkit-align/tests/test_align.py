"""The ``align`` updater and :func:`align_codes`: planted relabellings are undone exactly,
completion and new items, vocabulary, collisions and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sidkit.context import Context
from sidkit.types import SIDTable
from sidkit_align.align import align_codes
from sidkit_align.configs import AlignConfig
from sidkit_align.updaters import AlignUpdater

SOLVERS = ("greedy", "hungarian")


def updater(solver="hungarian", dedup="none"):
    return AlignUpdater(AlignConfig(solver=solver, dedup=dedup))


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_planted_relabelling_is_undone_exactly(planted, solver):
    old, new, perms, _ = planted(n=3000, levels=4, vocab=32)
    previous, refreshed = SIDTable(old, (32,) * 4), SIDTable(new, (32,) * 4)
    table, report = updater(solver).update(previous, refreshed, None)
    np.testing.assert_array_equal(table.codes, old)
    assert table.codebook_sizes == previous.codebook_sizes
    assert report["changed_rate"] == 0.0 and report["n_overlap"] == 3000 and report["n_new_items"] == 0
    for level in report["levels"]:
        assert level["agreement"] == 1.0 and level["matched"] == 32 and level["completed"] == 0
        assert level["matched_weight"] == 3000


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_planted_relabelling_with_noise_is_recovered_on_every_clean_item(planted, solver):
    old, new, perms, noisy = planted(n=4000, levels=3, vocab=16, noise=0.15, seed=3)
    assert 400 < noisy.sum() < 800
    aligned, phis, levels = align_codes(old, new, np.arange(4000), np.arange(4000), (16,) * 3, solver)
    np.testing.assert_array_equal(aligned[~noisy], old[~noisy])
    for level, (phi, perm) in enumerate(zip(phis, perms, strict=True)):
        np.testing.assert_array_equal(phi[perm], np.arange(16))  # phi is the inverse relabelling
        agreement = np.mean(aligned[:, level] == old[:, level])
        assert levels[level]["agreement"] == pytest.approx(agreement)
        assert agreement > 0.85


def test_the_overlap_comes_from_the_extras_and_new_items_get_valid_codes(planted):
    old, new_all, perms, _ = planted(n=600, levels=3, vocab=16, seed=1)
    # previous covers items 0..499 (every other one dropped from the refresh), refreshed the
    # odd items and 100 new ones 500..599
    previous = SIDTable(old[:500], (16,) * 3)
    refreshed_items = np.r_[np.arange(1, 500, 2), np.arange(500, 600)]
    refreshed = SIDTable(new_all[refreshed_items], (16,) * 3)
    ctx = Context(extras={"previous_items": np.arange(500), "refreshed_items": refreshed_items})
    table, report = updater().update(previous, refreshed, ctx)
    assert table.n_items == len(refreshed_items) and report["rows"] == "refreshed"
    assert report["n_overlap"] == 250 and report["n_new_items"] == 100
    # every refreshed item, old or new, gets the old-space code of its planted relabelling
    np.testing.assert_array_equal(table.codes, old[refreshed_items])


def test_unmatched_and_never_used_tokens_follow_the_completion_rule():
    # one level of 6 tokens. Overlap items 0-3: new 0 -> old 3 (twice), new 1 -> old 5.
    # Old token 1 is used only by item 4, which the refresh drops; old 0, 2, 4 are never used.
    # New token 4 (item 5, a new item) and new token 2 (item 6, new) are not matched.
    previous = SIDTable([[3], [3], [5], [5], [1]], (6,))
    refreshed = SIDTable([[0], [0], [1], [1], [4], [2]], (6,))
    ctx = Context(extras={"previous_items": np.arange(5), "refreshed_items": np.array([0, 1, 2, 3, 5, 6])})
    for solver in SOLVERS:
        table, report = updater(solver).update(previous, refreshed, ctx)
        # new 2 (ascending first) takes the leftover active old token 1, new 4 the first
        # never-used one, 0
        np.testing.assert_array_equal(table.codes[:, 0], [3, 3, 5, 5, 0, 1])
        assert report["levels"] == [{"level": 0, "matched": 2, "matched_weight": 4, "completed": 2, "agreement": 1.0, "agreement_before": 0.0}]
    _, phis, _ = align_codes(previous.codes, refreshed.codes, np.arange(4), np.arange(4), (6,))
    np.testing.assert_array_equal(phis[0], [3, 5, 1, 2, 0, 4])  # unused new 3, 5 take old 2, 4


@pytest.mark.parametrize("solver", SOLVERS)
def test_no_collision_is_introduced_and_the_vocabulary_stays_the_previous_one(solver):
    rng = np.random.default_rng(7)
    # refreshed: 400 distinct SIDs from a smaller vocabulary (12 per level), unrelated to the old ones
    combos = rng.choice(12**3, 400, replace=False)
    new = np.column_stack(np.unravel_index(combos, (12, 12, 12)))
    old = rng.integers(0, 20, (300, 3))
    previous, refreshed = SIDTable(old, (20, 20, 20)), SIDTable(new, (12, 12, 12))
    table, report = updater(solver).update(previous, refreshed, None)
    assert table.codebook_sizes == (20, 20, 20)
    assert len(np.unique(table.codes, axis=0)) == 400
    assert report["collisions_unresolved"] == 0 and report["collisions_resolved"] == 0
    assert report["n_overlap"] == 300 and report["n_new_items"] == 100
    # each level is rewritten by a bijection: equal new tokens stay equal, different ones different
    for level in range(3):
        pairs = np.unique(np.column_stack([new[:, level], table.codes[:, level]]), axis=0)
        assert len(np.unique(pairs[:, 0])) == len(np.unique(pairs[:, 1])) == len(pairs)


def test_hungarian_matches_at_least_the_weight_of_greedy_on_a_noisy_refresh(planted):
    old, new, _, _ = planted(n=2000, levels=3, vocab=24, noise=0.7, seed=5)
    previous, refreshed = SIDTable(old, (24,) * 3), SIDTable(new, (24,) * 3)
    _, greedy = updater("greedy").update(previous, refreshed, None)
    _, hungarian = updater("hungarian").update(previous, refreshed, None)
    for g, h in zip(greedy["levels"], hungarian["levels"], strict=True):
        assert h["matched_weight"] >= g["matched_weight"]
    assert sum(h["matched_weight"] for h in hungarian["levels"]) >= sum(g["matched_weight"] for g in greedy["levels"])
    # the identity is one of the bijections Hungarian maximises over: it never agrees less
    # with the old tokens than the refreshed tokens as they came (what FT-new continues with)
    for h in hungarian["levels"]:
        assert h["agreement"] >= h["agreement_before"]
        assert h["agreement_before"] < 0.2 < h["agreement"]


def test_the_report_is_json_and_has_every_key(planted):
    old, new, _, _ = planted(n=500, levels=3, vocab=8, noise=0.3)
    previous, refreshed = SIDTable(old, (8,) * 3), SIDTable(new, (8,) * 3)
    _, report = updater("greedy").update(previous, refreshed, Context())
    assert json.loads(json.dumps(report)) == report
    assert set(report) == {
        "updater",
        "rows",
        "solver",
        "dedup",
        "n_overlap",
        "n_new_items",
        "levels",
        "changed_rate",
        "seconds",
        "collisions_resolved",
        "collisions_unresolved",
    }
    assert report["updater"] == "align" and report["solver"] == "greedy" and report["dedup"] == "none"
    assert 0.0 < report["changed_rate"] < 1.0 and report["seconds"] >= 0.0
    expected_changed = np.mean(np.any(updater("greedy").update(previous, refreshed, None)[0].codes != old, axis=1))
    assert report["changed_rate"] == pytest.approx(expected_changed)


def test_without_overlap_everything_is_completion():
    previous = SIDTable([[0, 1], [2, 3]], (4, 4))
    refreshed = SIDTable([[1, 1], [0, 0]], (4, 4))
    ctx = Context(extras={"previous_items": [0, 1], "refreshed_items": [2, 3]})
    table, report = updater().update(previous, refreshed, ctx)
    # level 0: used new 0, 1 take the active old 0, 2; level 1: new 0, 1 take old 1, 3
    np.testing.assert_array_equal(table.codes, [[2, 3], [0, 1]])
    assert report["n_overlap"] == 0 and report["changed_rate"] is None
    assert [lv["agreement"] for lv in report["levels"]] == [None, None]
