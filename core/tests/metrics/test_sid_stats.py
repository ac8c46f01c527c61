"""SID statistics on small hand-made tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sidkit.metrics import sid_change_rate, sid_statistics
from sidkit.types import SIDTable

TABLE = SIDTable(np.array([[0, 0], [0, 1], [1, 0], [1, 0], [2, 1]]), (4, 2))


def test_statistics_of_a_small_table():
    s = sid_statistics(TABLE)
    json.dumps(s)  # JSON-able
    assert s["n_items"] == 5 and s["n_levels"] == 2 and s["codebook_sizes"] == [4, 2]
    lv0, lv1 = s["levels"]
    # level 0: codes 0,0,1,1,2 -> counts [2, 2, 1, 0] of W = 4
    assert (lv0["level"], lv0["codebook_size"], lv0["used"]) == (0, 4, 3)
    assert lv0["usage"] == pytest.approx(3 / 4)
    assert lv0["perplexity"] == pytest.approx(math.exp(-(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2))))
    # level 1: codes 0,1,0,0,1 -> counts [3, 2]
    assert (lv1["used"], lv1["usage"]) == (2, 1.0)
    assert lv1["perplexity"] == pytest.approx(math.exp(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4))))
    # full SIDs (0,0) (0,1) (1,0) (1,0) (2,1): 4 distinct, items 2 and 3 collide
    assert s["unique_sids"] == 4
    assert s["collision_rate"] == pytest.approx(2 / 5)
    assert s["items_per_sid"] == {"mean": pytest.approx(5 / 4), "max": 2}
    d1, d2 = s["prefixes"]
    # depth 1: prefixes 0 (2 items), 1 (2 items), 2 (1 item): 4 of 5 items share a prefix
    assert (d1["depth"], d1["unique"], d1["items_in_collisions"]) == (1, 3, 4)
    assert d1["collision_rate"] == pytest.approx(4 / 5)
    assert d1["items_per_prefix"] == {"mean": pytest.approx(5 / 3), "max": 2}
    assert (d2["depth"], d2["unique"], d2["collision_rate"]) == (2, 4, pytest.approx(2 / 5))


def test_perplexity_of_uniform_codes_is_the_codebook_size_and_of_one_code_is_one():
    codes = np.stack([np.repeat(np.arange(8), 2), np.zeros(16, dtype=int)], axis=1)
    s = sid_statistics(SIDTable(codes, (8, 3)))
    assert s["levels"][0]["perplexity"] == pytest.approx(8.0)
    assert s["levels"][1]["perplexity"] == pytest.approx(1.0)
    assert s["levels"][1]["usage"] == pytest.approx(1 / 3)
    assert s["collision_rate"] == pytest.approx(1.0)  # every item shares its SID with one other
    assert s["unique_sids"] == 8


def test_huge_codebooks_use_the_row_unique_path():
    w = 2**40
    codes = np.array([[1, w - 1, 5], [1, w - 1, 5], [2, 0, 5]])
    s = sid_statistics(SIDTable(codes, (w, w, w)))
    assert s["unique_sids"] == 2 and s["collision_rate"] == pytest.approx(2 / 3)
    assert [p["unique"] for p in s["prefixes"]] == [2, 2, 2]


def test_no_collisions():
    s = sid_statistics(SIDTable(np.array([[0, 0], [0, 1], [1, 0]]), (2, 2)))
    assert s["collision_rate"] == 0.0 and s["items_per_sid"] == {"mean": 1.0, "max": 1}


def test_change_rate():
    old = SIDTable(np.array([[0, 0], [0, 1], [1, 1]]), (2, 2))
    new = SIDTable(np.array([[0, 0], [1, 1], [1, 0], [0, 1]]), (2, 2))  # one item added
    c = sid_change_rate(old, new)
    json.dumps(c)
    # item 0 unchanged, item 1 changed at level 0, item 2 changed at level 1
    assert (c["n_compared"], c["n_added"], c["changed"]) == (3, 1, 2)
    assert c["change_rate"] == pytest.approx(2 / 3)
    assert [lv["change_rate"] for lv in c["levels"]] == [pytest.approx(1 / 3), pytest.approx(1 / 3)]
    assert [p["change_rate"] for p in c["prefixes"]] == [pytest.approx(1 / 3), pytest.approx(2 / 3)]
    assert sid_change_rate(old, old)["change_rate"] == 0.0


def test_change_rate_errors():
    old = SIDTable(np.array([[0, 0], [0, 1]]), (2, 2))
    with pytest.raises(ValueError, match="levels"):
        sid_change_rate(old, SIDTable(np.array([[0], [1]]), (2,)))
    with pytest.raises(ValueError, match="fewer than the old one"):
        sid_change_rate(old, SIDTable(np.array([[0, 0]]), (2, 2)))
