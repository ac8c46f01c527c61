"""dataset_info / format_info: counts, time range, tie shares."""

from __future__ import annotations

import json

import pytest
from sidkit.data import dataset_info, format_info

# a: ties at t=2 (twice, last pair tied); b: no ties; c: single interaction
ROWS = [("a", "x", 1), ("a", "y", 2), ("a", "z", 2), ("b", "x", 86400), ("b", "y", 86401), ("c", "z", 5)]


def test_info_values(tiny, write):
    ds = tiny(ROWS)
    info = dataset_info(ds)
    assert (info["users"], info["items"], info["interactions"]) == (3, 3, 6)
    assert (info["timestamp_min"], info["timestamp_max"]) == (1, 86401)
    assert (info["date_min"], info["date_max"]) == ("1970-01-01", "1970-01-02")
    assert info["density"] == pytest.approx(6 / 9)
    assert info["tied_consecutive_share"] == pytest.approx(1 / 3)  # 1 of 3 same-user pairs
    assert info["tied_last_pair_share"] == pytest.approx(1 / 2)  # a of {a, b}
    assert info["share_items_with_text"] == 0.0 and info["ties"] == "keep"
    json.dumps(info)  # JSON-ready


def test_format_info(tiny):
    text = format_info(dataset_info(tiny(ROWS)))
    assert "users with tied last pair  50.0%" in text
    assert "interactions" in text and "1970-01-02 (86401)" in text


@pytest.mark.parametrize("ts", [1583065200000, 9_000_000_000_000_000_000], ids=["milliseconds", "int64-max"])
def test_info_clock_not_in_seconds(tiny, ts):
    info = dataset_info(tiny([("a", "x", ts), ("a", "y", ts + 1)]))
    assert (info["date_min"], info["date_max"], info["timestamp_max"]) == (None, None, ts + 1)
    assert f"{ts} (not a date in seconds)" in format_info(info)
    json.dumps(info)
