"""Parquet interaction files (``sidkit[parquet]``): the same dataset as the same rows in a CSV
file, batch by batch; clear errors; a clear message when pyarrow is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from old_loading import same_dataset
from sidkit.data import load_dataset
from sidkit.errors import DataError

ROWS = [("u2", "10", 300, 4.0), ("u1", "7", 100, 5.0), ("u2", "07", 200, 3.0), ("u10", "7", 50, 1.0)] * 3


def test_pyarrow_missing_says_which_extra_to_install(tmp_path, monkeypatch):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"pip install 'sidkit\[parquet\]'") as info:
        load_dataset("delimited", path=str(path))
    assert str(path) in str(info.value)


def write_parquet(path, columns, **kw):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(columns), path, **kw)
    return path


def csv_and_parquet(tmp_path, rows=ROWS, item_type=str, row_group_size=None):
    text = "user_id,item_id,timestamp,rating\n" + "".join(f"{u},{i},{t},{r}\n" for u, i, t, r in rows)
    csv = tmp_path / "log.csv"
    csv.write_text(text)
    cols = {
        "user_id": [r[0] for r in rows],
        "item_id": [item_type(r[1]) for r in rows],
        "timestamp": [r[2] for r in rows],
        "rating": [r[3] for r in rows],
    }
    pq = write_parquet(tmp_path / "log.parquet", cols, row_group_size=row_group_size)
    return csv, pq


@pytest.mark.parametrize("batch_rows", [None, 5])
def test_parquet_equals_csv(tmp_path, monkeypatch, batch_rows):
    from sidkit.data.loaders import parquet

    csv, pq = csv_and_parquet(tmp_path, row_group_size=4)
    if batch_rows:
        monkeypatch.setattr(parquet, "BATCH_ROWS", batch_rows)
    a = load_dataset("delimited", path=str(csv), rating_col="rating", min_rating=2)
    b = load_dataset("delimited", path=str(pq), rating_col="rating", min_rating=2)
    assert b.interactions.user_ids == ["u1", "u2"]  # u10 rated below 2; lexicographic, as in the CSV
    assert list(b.catalog.item_ids) == ["07", "10", "7"]  # "07" and "7" stay apart
    same_dataset(a, type(b)(b.catalog, b.interactions, name=b.name, meta={**b.meta, "path": a.meta["path"]},
                            user_rank=b.user_rank))  # fmt: skip


def test_integer_ids_and_arrow_timestamps(tmp_path):
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    n = 500
    users, items, ts = rng.integers(0, 30, n), rng.integers(1, 80, n), 1_600_000_000 + rng.integers(0, 10**6, n)
    pq = write_parquet(
        tmp_path / "ints.parquet",
        {"user_id": users, "item_id": items, "timestamp": pa.array(ts * 1000, type=pa.timestamp("ms"))},
    )
    csv = tmp_path / "ints.csv"
    csv.write_text(
        "user_id,item_id,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in zip(users, items, ts, strict=True))
    )
    a, b = load_dataset("delimited", path=str(csv)), load_dataset("delimited", path=str(pq))
    assert list(a.catalog.item_ids) == list(b.catalog.item_ids) and a.interactions.user_ids == b.interactions.user_ids
    for name in ("user", "item", "timestamp"):
        assert np.array_equal(getattr(a.interactions, name), getattr(b.interactions, name))


def test_errors_name_the_file_and_row(tmp_path):
    pq = write_parquet(
        tmp_path / "bad.parquet", {"user_id": ["a", None, "c"], "item_id": ["1", "2", "3"], "timestamp": [1, 2, 3]}
    )
    with pytest.raises(DataError, match="user_id is missing") as info:
        load_dataset("delimited", path=str(pq))
    assert (info.value.line, str(info.value.path)) == (2, str(pq))
    pq = write_parquet(
        tmp_path / "nan.parquet", {"user_id": ["a", "b"], "item_id": ["1", "2"], "timestamp": [1.0, float("nan")]}
    )
    with pytest.raises(DataError, match="timestamp 'nan' is not a number") as info:
        load_dataset("delimited", path=str(pq))
    assert info.value.line == 2
    with pytest.raises(DataError, match="missing column 'when'; the file has: user_id, item_id, timestamp"):
        load_dataset("delimited", path=str(pq), time_col="when")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_dataset("delimited", path=str(junk))
