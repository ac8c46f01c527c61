"""The chunked, vectorised interaction reading (``sidkit.data.loaders.columns``): the same
datasets as the per-row reading it replaced (the autouse check of ``conftest.py`` compares
every load here, also with 7-byte blocks) and the same errors at the same lines wherever
the blocks are cut."""

from __future__ import annotations

import gzip

import numpy as np
import old_loading
import pytest
from sidkit.data import load_dataset
from sidkit.data.loaders import columns
from sidkit.data.loaders.build import sorted_ids
from sidkit.errors import DataError

ID_SETS = {
    "canonical": ["7", "12", "-3", "100000000000", "0", "5"],
    "leading-zero": ["7", "07", "12", "3"],
    "spaces-and-plus": [" 7", "+8", "9", "10"],
    "text": ["b", "a", "ä", "日本", "A", "a1", "a10", "a2"],
    "mixed": ["1", "x", "2", "10"],
    "huge": ["123456789012345678901", "5", "6"],
    "minus-zero": ["-0", "1", "2"],
}


@pytest.mark.parametrize("name", list(ID_SETS))
@pytest.mark.parametrize("kind", ["bytes", "str"])
def test_sorted_ids_equal_the_dict_version(name, kind):
    rng = np.random.default_rng(0)
    ids = list(rng.choice(ID_SETS[name], 200))
    array = np.char.encode(np.array(ids), "utf-8") if kind == "bytes" else np.array(ids)
    want_ids, want_codes = old_loading.sorted_ids(ids)
    got_ids, got_codes = sorted_ids(array, "utf-8")
    assert got_ids.tolist() == want_ids.tolist() and np.array_equal(got_codes, want_codes)


def big_file(n: int = 600, crlf: bool = False, blank_every: int = 0) -> str:
    end = "\r\n" if crlf else "\n"
    rows = ["user_id,item_id,timestamp,rating"]
    rng = np.random.default_rng(1)
    for i in range(n):
        rows.append(f"u{rng.integers(40)},{rng.integers(1, 90)},{1000 + i},{rng.integers(1, 6)}")
        if blank_every and i % blank_every == 0:
            rows.append("")
    return end.join(rows) + end


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("blank_every", [0, 7])
@pytest.mark.parametrize("gz", [False, True])
def test_large_file_equal_across_block_sizes(write, crlf, blank_every, gz):
    path = write("big.csv.gz" if gz else "big.csv", "\ufeff" + big_file(crlf=crlf, blank_every=blank_every))
    ds = load_dataset("delimited", path=str(path), rating_col="rating")  # conftest: 7-byte blocks and old reading too
    assert len(ds.interactions) == 600 - ds.meta["counts"]["duplicates_dropped"]


def test_quotes_late_in_the_file_switch_to_the_csv_reader(write, monkeypatch):
    text = big_file(300) + 'u1,"7",99999,5\n"u,2",8,100000,4\n'
    monkeypatch.setattr(columns, "CHUNK_BYTES", 256)
    ds = load_dataset("delimited", path=str(write("q.csv", text)))
    assert "u,2" in ds.interactions.user_ids


@pytest.mark.parametrize("block", [7, 64, 1 << 24])
@pytest.mark.parametrize(
    ("bad", "line", "reason"),
    [
        ("u9,5,yesterday,3", 402, "timestamp 'yesterday' is not a number"),
        ("u9,5,7", 402, "expected 4 fields separated by ',', found 3"),
        ("u9,5,7,3,1", 402, "expected 4 fields separated by ',', found 5"),
        ("u9,5,7,great", 402, "rating 'great' is not a number"),
    ],
)
def test_errors_name_the_line_wherever_the_blocks_end(write, monkeypatch, block, bad, line, reason):
    rows = big_file(600).splitlines()
    rows.insert(401, bad)
    path = write("bad.csv", "\n".join(rows) + "\n")
    monkeypatch.setattr(columns, "CHUNK_BYTES", block)
    with pytest.raises(DataError) as info:
        load_dataset("delimited", path=str(path), rating_col="rating")
    assert (info.value.line, info.value.reason) == (line, reason)
    assert f"{path}:{line}: " in str(info.value)


@pytest.mark.parametrize("block", [7, 1 << 24])
def test_latin1_fallback_and_double_colon_separator(write, monkeypatch, block):
    monkeypatch.setattr(columns, "CHUNK_BYTES", block)
    rows = "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in [(1, 10, 5, 100), (1, 11, 4, 101), (2, 10, 3, 102)])
    write("ml/ratings.dat", rows, encoding="latin-1")
    write("ml/movies.dat", "10::Caf\xe9 (1999)::Drama\n11::A:B (2000)::Comedy|Drama\n", encoding="latin-1")
    ds = load_dataset("movielens", path=str(write("ml/ratings.dat", rows).parent))
    assert ds.catalog.fields[0]["title"] == "Café (1999)" and ds.interactions.user_ids == ["1", "2"]


def test_truncated_gzip_is_a_clear_error(write, tmp_path):
    data = gzip.compress(big_file(2000).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated gzip file"):
        load_dataset("delimited", path=str(path))


@pytest.mark.parametrize("block", [7, 1 << 24])
def test_old_mac_line_ends_count_as_lines(write, monkeypatch, block):
    """A lone "\\r" ends a line, as Python's universal newlines did for the per-row reader."""
    monkeypatch.setattr(columns, "CHUNK_BYTES", block)
    text = "user_id,item_id,timestamp\r" + "u1,1,10\r\r\nu1,2,11\r\nu2,1,12\ru2,3,13\n\nu3,1,x\r"
    path = write("mac.csv", text)
    with pytest.raises(DataError) as info:
        load_dataset("delimited", path=str(path))
    assert (info.value.line, info.value.reason) == (8, "timestamp 'x' is not a number")
    ds = load_dataset("delimited", path=str(write("mac2.csv", text.replace("u3,1,x", "u3,1,14"))))
    assert len(ds.interactions) == 5  # and equal to the per-row reading (conftest)
