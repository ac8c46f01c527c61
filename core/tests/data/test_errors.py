"""Malformed input: every error names the file, the 1-based line and the reason."""

from __future__ import annotations

import bz2
import gzip
import json
import re

import pytest
from sidkit.data import load_dataset
from sidkit.errors import DataError

HEADER = "user_id,item_id,timestamp\n"


def raises_at(where, line, reason, fmt, **fields):
    """Loading raises a DataError at file ``where``, line ``line``, with ``reason`` (a regex)."""
    with pytest.raises(DataError) as info:
        load_dataset(fmt, **fields)
    err = info.value
    assert (str(err.path), err.line) == (str(where), line)
    assert f"{where}:{line}: " in str(err)
    assert re.search(reason, err.reason), err.reason
    return err


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ("user_id,item,timestamp\nu,i,1\n", 1, r"missing column 'item_id'; the header has: user_id, item, timestamp"),
        (HEADER + "u,i,1\nu,i\n", 3, r"expected 3 fields separated by ',', found 2"),
        (HEADER + "u,i,1\nu,j,yesterday\n", 3, r"timestamp 'yesterday' is not a number"),
        (HEADER + "u,i,1\nu,j,nan\n", 3, r"timestamp 'nan' is not a number"),
        ("", 1, "empty file"),
        (HEADER, 2, "no records after the header"),
        (HEADER + 'u,"i,1\n', 2, "malformed CSV record: unexpected end of data"),
    ],
    ids=["missing-column", "field-count", "timestamp", "nan-timestamp", "empty", "header-only", "open-quote"],
)
def test_delimited_interactions(write, text, line, reason):
    path = write("inter.csv", text)
    raises_at(path, line, reason, "delimited", path=str(path))


def test_non_numeric_rating(write):
    path = write("inter.csv", "user_id,item_id,timestamp,rating\nu,i,1,5\nu,j,2,five\n")
    raises_at(path, 3, r"rating 'five' is not a number", "delimited", path=str(path), rating_col="rating")


def test_missing_rating_column(write):
    path = write("inter.csv", HEADER + "u,i,1\n")
    raises_at(path, 1, r"missing column 'stars'", "delimited", path=str(path), rating_col="stars")


def test_not_utf8(write):
    path = write("inter.csv", HEADER + "u,i,1\nJosé,j,2\n", encoding="latin-1")
    raises_at(path, 3, "not valid utf-8 text", "delimited", path=str(path))


def test_unknown_item_id(write):
    inter = write("inter.csv", HEADER + "u,i1,1\nu,i2,2\nv,i9,3\n")
    items = write("items.jsonl", '{"item_id": "i1"}\n{"item_id": "i2"}\n')
    err = raises_at(inter, 4, r"item id 'i9' is not in the item file", "delimited", path=str(inter), items=str(items))
    assert str(items) in err.reason


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ('{"item_id": "i1"}\n{"item_id": "i2", \n', 2, "not a JSON object"),
        ('{"item_id": "i1"}\n["i2"]\n', 2, "expected an object, got list"),
        ('{"item_id": "i1"}\n{"id": "i2"}\n', 2, r"missing key 'item_id'; the object has: id"),
    ],
    ids=["bad-json", "not-object", "missing-key"],
)
def test_jsonl_items(write, text, line, reason):
    inter = write("inter.csv", HEADER + "u,i1,1\n")
    items = write("items.jsonl", text)
    raises_at(items, line, reason, "delimited", path=str(inter), items=str(items))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="interaction file not found"):
        load_dataset("delimited", path=str(tmp_path / "nope.csv"))


def test_min_rating_without_ratings(write):
    path = write("inter.csv", HEADER + "u,i,1\n")
    with pytest.raises(DataError, match="min_rating = 3.0 but the interactions have no ratings"):
        load_dataset("delimited", path=str(path), min_rating=3)


def test_nothing_left_after_filters(write):
    path = write("inter.csv", HEADER + "u,i,1\nv,j,2\n")
    with pytest.raises(DataError, match="no interactions left after the filters"):
        load_dataset("delimited", path=str(path), kcore=2)


# -- movielens -----------------------------------------------------------------------------
def test_movielens_field_counts(write, tmp_path):
    data = write("ml/u.data", "1\t10\t3\t881250949\n1\t11\t3\n")
    raises_at(data, 2, r"expected 4 fields separated by '\\t', found 3", "movielens", path=str(tmp_path / "ml"))
    write("ml/u.data", "1\t10\t3\t881250949\n")
    item = write(
        "ml/u.item", "10|Kolya (1996)|01-Jan-1996||http://x" + "|0" * 19 + "\n11|Short|x\n", encoding="latin-1"
    )
    raises_at(item, 2, r"expected 24 fields separated by '\|', found 3", "movielens", path=str(tmp_path / "ml"))


def test_movielens_dat_timestamp(write, tmp_path):
    path = write("ml/ratings.dat", "1::10::5::978300760\n1::11::5::soon\n")
    raises_at(path, 2, r"timestamp 'soon' is not a number", "movielens", path=str(tmp_path / "ml"))


def test_movielens_unknown_movie(write, tmp_path):
    path = write("ml/ratings.dat", "1::10::5::978300760\n1::11::5::978300761\n")
    write("ml/movies.dat", "10::Ten (1990)::Drama\n")
    raises_at(path, 2, r"item id '11' is not in the item file", "movielens", path=str(tmp_path / "ml"))


# -- amazon --------------------------------------------------------------------------------
REVIEW = json.dumps({"reviewerID": "A", "asin": "B1", "overall": 5.0, "unixReviewTime": 1}) + "\n"


@pytest.mark.parametrize(
    "text, line, reason",
    [
        (REVIEW + '{"reviewerID": "A", "asin": "B2"\n', 2, "not a JSON object"),
        (REVIEW + '{"reviewerID": "A", "asin": "B2", "overall": 4.0}\n', 2, "missing key 'unixReviewTime'"),
        (
            REVIEW + '{"reviewerID": "A", "asin": "B2", "unixReviewTime": "later"}\n',
            2,
            "unixReviewTime 'later' is not a number",
        ),
        ("\n\n", 1, "empty file"),
    ],
    ids=["bad-json", "missing-key", "timestamp", "empty"],
)
def test_amazon_reviews(write, text, line, reason):
    path = write("reviews_X_5.json.gz", text)
    raises_at(path, line, reason, "amazon", path=str(path))


def test_amazon_meta_without_asin(write):
    reviews = write("reviews_X_5.json", REVIEW)
    meta = write("meta_X.json", "{'asin': 'B1'}\n{'title': 'no id'}\n")
    raises_at(meta, 2, r"missing key 'asin'", "amazon", path=str(reviews), items=str(meta))


# -- recbole -------------------------------------------------------------------------------
def test_recbole_header_types(write):
    path = write("x.inter", "user_id\titem_id:token\ttimestamp:float\nu\ti\t1\n")
    raises_at(path, 1, r"header field 'user_id' must be name:type", "recbole", path=str(path))


def test_recbole_missing_field(write):
    path = write("x.inter", "user_id:token\titem_id:token\nu\ti\n")
    raises_at(path, 1, r"missing column 'timestamp'; the header has: user_id, item_id", "recbole", path=str(path))


def test_recbole_item_float(write):
    inter = write("x.inter", "user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\n")
    items = write("x.item", 'item_id:token\ttitle:token\tprice:float\ni\t"two\nlines"\tcheap\n')
    raises_at(items, 2, r"price 'cheap' is not a number", "recbole", path=str(inter), items=str(items))


# -- text encoding and compression ---------------------------------------------------------
BOM = "\ufeff"
AMAZON_REVIEW = json.dumps({"reviewerID": "u", "asin": "i", "overall": 5.0, "unixReviewTime": 1}) + "\n"
BOM_CASES = {
    "csv+jsonl": (
        "delimited",
        {"inter.csv": HEADER + "u,i,1\n", "items.jsonl": '{"item_id": "i", "title": "T"}\n'},
    ),
    "tsv.gz": ("delimited", {"inter.tsv.gz": "user_id\titem_id\ttimestamp\nu\ti\t1\n"}),
    "recbole": (
        "recbole",
        {
            "x.inter": "user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\n",
            "x.item": "item_id:token\ttitle:token\ni\tT\n",
        },
    ),
    "movielens-csv": (
        "movielens",
        {
            "ml/ratings.csv": "userId,movieId,rating,timestamp\nu,i,5,1\n",
            "ml/movies.csv": "movieId,title,genres\ni,T,Drama\n",
        },
    ),
    "movielens-dat": ("movielens", {"ml/ratings.dat": "u::i::5::1\n", "ml/movies.dat": "i::T::Drama\n"}),
    "amazon": ("amazon", {"reviews_X_5.json.gz": AMAZON_REVIEW, "meta_X.json": "{'asin': 'i', 'title': 'T'}\n"}),
}


@pytest.mark.parametrize("fmt, files", BOM_CASES.values(), ids=BOM_CASES.keys())
def test_utf8_bom_is_ignored(write, fmt, files):
    paths = [write(name, BOM + text) for name, text in files.items()]
    fields = {"path": str(paths[0].parent if fmt == "movielens" else paths[0])}
    if len(paths) > 1 and fmt != "movielens":
        fields["items"] = str(paths[1])
    ds = load_dataset(fmt, **fields)
    assert (ds.interactions.user_ids, ds.catalog.item_ids) == (["u"], ["i"])
    if len(paths) > 1:
        assert ds.catalog.fields[0]["title"] == "T"


@pytest.mark.parametrize(
    "corrupt, reason",
    [
        (lambda data: data[:-30], r"truncated gzip file: the compressed data ends early"),
        (lambda data: b"\x1f\x8b" + b"x" * 20, r"corrupt gzip file \(Unknown compression method\)"),
        (lambda data: data[:-8] + bytes(8), r"corrupt gzip file \(CRC check failed"),
    ],
    ids=["truncated", "bad-method", "bad-crc"],
)
@pytest.mark.parametrize("fmt, name", [("delimited", "inter.csv.gz"), ("amazon", "reviews_X_5.json.gz")])
def test_broken_gzip(tmp_path, fmt, name, corrupt, reason):
    text = HEADER + "u,i,1\n" * 300 if fmt == "delimited" else REVIEW * 300
    path = tmp_path / name
    path.write_bytes(corrupt(gzip.compress(text.encode())))
    with pytest.raises(DataError) as info:
        load_dataset(fmt, path=str(path))
    assert info.value.path == path and str(info.value).startswith(f"{path}: ")
    assert re.match(reason, info.value.reason), info.value.reason


def test_gz_name_but_not_gzip(tmp_path):
    path = tmp_path / "inter.csv.gz"
    path.write_bytes(bz2.compress((HEADER + "u,i,1\n").encode()))
    reason = r"not valid utf-8 text .*; the name ends in \.gz but the file is not gzip-compressed"
    raises_at(path, 1, reason, "delimited", path=str(path))


def test_jsonl_not_utf8(write):
    inter = write("inter.csv", HEADER + "u,i1,1\n")
    items = write("items.jsonl", '{"item_id": "i1"}\n{"item_id": "José"}\n', encoding="latin-1")
    raises_at(items, 2, "not valid utf-8 text", "delimited", path=str(inter), items=str(items))


# -- timestamps out of range ---------------------------------------------------------------
INT64_RANGE = "between -9223372036854775808 and 9223372036854775807"


@pytest.mark.parametrize("value", ["1e30", "-1e19", "99999999999999999999"])
def test_timestamp_out_of_range(write, value):
    path = write("inter.csv", HEADER + f"u,i,1\nu,j,{value}\n")
    err = raises_at(path, 3, rf"timestamp '{value}' is out of range; expected seconds", "delimited", path=str(path))
    assert INT64_RANGE in err.reason


def test_amazon_timestamp_out_of_range(write):
    line = json.dumps({"reviewerID": "A", "asin": "B2", "unixReviewTime": 1e30}) + "\n"
    path = write("reviews_X_5.json", REVIEW + line)
    raises_at(path, 2, r"unixReviewTime '1e\+30' is out of range", "amazon", path=str(path))
