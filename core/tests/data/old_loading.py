"""The per-row interaction reading that the chunked loaders replaced (sidkit 0.1, before
issue 18), kept as the oracle that :mod:`conftest` checks every load of these tests against:
records as lists of strings (``read_records``), ids through a dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sidkit.data.loaders import amazon
from sidkit.data.loaders.build import RawInteractions
from sidkit.data.loaders.columns import Columns
from sidkit.data.loaders.reading import (
    check_widths,
    column_index,
    json_lines,
    parse_numbers,
    parse_timestamps,
    read_records,
    read_table,
    require_keys,
)


def read_columns(
    path: Path,
    sep: str,
    *,
    ids: Mapping[str, int | str],
    numbers: Mapping[str, int | str],
    header: bool,
    width: int | None = None,
    quoted: bool = True,
    encodings: Sequence[str] = ("utf-8",),
    names: Mapping[str, str] | None = None,
    chunk_bytes: int | None = None,
) -> Columns:
    names = {"time": "timestamp", "rating": "rating", **(names or {})}
    if header:
        head, rows, lines = read_table(path, sep)
    else:
        head, (rows, lines) = None, read_records(path, sep, quoted=quoted, encodings=encodings)
        check_widths(rows, lines, width, path, sep)

    def at(col):
        return col if isinstance(col, int) else column_index(head, col, path)

    nums = {}
    for role, col in numbers.items():  # ratings before timestamps, as raw_from_rows did
        parse = parse_timestamps if role == "time" else parse_numbers
        nums[role] = parse([r[at(col)] for r in rows], lines, names[role], path)
    # str arrays: the oracle's ids stay text, sorted by the old sorted_ids below
    id_cols = {role: np.array([r[at(col)] for r in rows], dtype=str) for role, col in ids.items()}
    return Columns(head, id_cols, nums, np.asarray(lines, dtype=np.int64), "utf-8")


def sorted_ids(ids, encoding: str = "utf-8") -> tuple[np.ndarray, np.ndarray]:
    ids = [i.decode(encoding) if isinstance(i, bytes) else str(i) for i in np.asarray(ids).tolist()]
    first: dict[str, int] = {}
    codes = np.fromiter((first.setdefault(i, len(first)) for i in ids), dtype=np.int64, count=len(ids))
    uniq = np.array(list(first), dtype=str)
    try:
        numbers = uniq.astype(np.int64)
        numeric = len(np.unique(numbers)) == len(uniq)
    except (ValueError, OverflowError):
        numeric = False
    order = np.argsort(numbers if numeric else uniq, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[codes]


def read_reviews(path: Path, rows_per_chunk: int | None = None) -> RawInteractions:
    users, items, times, ratings, lines = [], [], [], [], []
    for line, obj in json_lines(path):
        require_keys(obj, amazon.REVIEW_KEYS, path, line)
        users.append(str(obj["reviewerID"]))
        items.append(str(obj["asin"]))
        times.append(str(obj["unixReviewTime"]))
        ratings.append(obj.get("overall"))
        lines.append(line)
    has_ratings = None not in ratings
    return RawInteractions(
        users=np.array(users, dtype=str),
        items=np.array(items, dtype=str),
        timestamps=parse_timestamps(times, lines, "unixReviewTime", path),
        ratings=parse_numbers([str(r) for r in ratings], lines, "overall", path).astype(np.float64)
        if has_ratings
        else None,
        lines=np.asarray(lines, dtype=np.int64),
        path=path,
    )


def same_dataset(a, b) -> None:
    """Two datasets are equal: catalog, interactions, ids, provenance."""
    assert list(a.catalog.item_ids) == list(b.catalog.item_ids)
    assert [dict(f) for f in a.catalog.fields] == [dict(f) for f in b.catalog.fields]
    ia, ib = a.interactions, b.interactions
    for name in ("user", "item", "timestamp"):
        x, y = getattr(ia, name), getattr(ib, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert list(ia.user_ids) == list(ib.user_ids)
    assert (a.name, dict(a.meta)) == (b.name, dict(b.meta))
    assert (a.user_rank is None) == (b.user_rank is None)
    if a.user_rank is not None:
        assert np.array_equal(a.user_rank, b.user_rank)
