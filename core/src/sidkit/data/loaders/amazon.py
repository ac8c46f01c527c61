"""Format ``amazon``: the 2014 McAuley Amazon review data.

``path``: a reviews file (``reviews_X_5.json[.gz]``, one JSON object per line with
``reviewerID``, ``asin``, ``overall``, ``unixReviewTime``). ``items``: the metadata file
(``meta_X.json[.gz]``), one Python-literal dict per line (read with ``ast.literal_eval``,
falling back to JSON, so the 2018 release works too). Item fields: ``title``, ``brand``,
``categories`` (the category paths flattened, duplicates dropped, order kept) and ``description``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ...config.validators import non_empty
from ...errors import DataError
from ..model import Dataset
from . import columns
from .build import RawInteractions, build_dataset
from .options import LoadOptions
from .reading import clean_text, existing_file, json_lines, parse_numbers, parse_timestamps, require_keys

__all__ = ["AmazonConfig", "load_amazon", "read_amazon_meta", "flatten_categories"]

REVIEW_KEYS = ("reviewerID", "asin", "unixReviewTime")
TEXT_KEYS = ("title", "brand", "description")
_ASIN = re.compile(r"""['"]asin['"]\s*:\s*['"]([^'"]*)['"]""")


@attrs.frozen(kw_only=True)
class AmazonConfig(LoadOptions):
    """``path``: the reviews file (``reviews_X_5.json[.gz]``); ``items``: the metadata
    file (``meta_X.json[.gz]``)."""

    path: str = attrs.field(validator=non_empty("the reviews file (reviews_X_5.json or .json.gz)"))
    items: str | None = None


def _literal(line: str) -> Any:
    try:
        return ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return json.loads(line)


def flatten_categories(value: Any) -> list[str]:
    """Category paths (a list of lists, or one flat list) as one list, duplicates dropped."""
    flat: Iterable[Any] = (c for path in value for c in (path if isinstance(path, list) else [path]))
    return list(dict.fromkeys(str(c) for c in flat if c))


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    fields = {k: clean_text(obj[k]) for k in TEXT_KEYS if obj.get(k)}
    if isinstance(fields.get("description"), list):  # the 2018 release: a list of paragraphs
        fields["description"] = " ".join(fields["description"])
    cats = obj.get("categories", obj.get("category"))
    if isinstance(cats, list):
        fields["categories"] = clean_text(flatten_categories(cats))
    return {k: fields[k] for k in ("title", "brand", "categories", "description") if k in fields}


_SKIP: dict[str, Any] = {}  # parse result of a skipped line


def _prefiltered(wanted: set[str] | None):
    def parse(line: str) -> Any:
        if wanted is not None:
            m = _ASIN.search(line)
            if m is not None and m.group(1) not in wanted:
                return _SKIP
        return _literal(line)

    return parse


def read_amazon_meta(path: str | Path, wanted: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """``asin`` -> fields of a metadata file; with ``wanted``, lines of other items are skipped unparsed."""
    path = existing_file(path, "metadata file")
    items: dict[str, dict[str, Any]] = {}
    for line, obj in json_lines(path, _prefiltered(wanted)):
        if obj is _SKIP:
            continue
        require_keys(obj, ("asin",), path, line)
        items[str(obj["asin"])] = _fields(obj)
    return items


def _read_reviews(path: Path, rows_per_chunk: int | None = None) -> RawInteractions:
    """The reviews, parsed line by line (JSON) and turned into arrays every ``rows_per_chunk`` lines."""
    rows_per_chunk = rows_per_chunk or columns.CSV_ROWS
    users, items, times, ratings, lines = [], [], [], [], []
    parts: list[tuple[np.ndarray, ...]] = []
    rating_error: DataError | None = None
    has_ratings = True

    def flush() -> None:
        nonlocal rating_error, has_ratings
        if not lines:
            return
        at = np.asarray(lines, dtype=np.int64)
        stamps = parse_timestamps(np.array(times, dtype=str), at, "unixReviewTime", path)
        rated = np.zeros(0)
        has_ratings = has_ratings and None not in ratings
        if has_ratings and rating_error is None:
            try:
                rated = parse_numbers(np.array([str(r) for r in ratings], dtype=str), at, "overall", path)
            except DataError as exc:  # raised at the end unless a later review has no rating
                rating_error = exc
        parts.append((np.array(users, dtype=str), np.array(items, dtype=str), stamps, rated.astype(np.float64), at))
        for part in (users, items, times, ratings, lines):
            part.clear()

    for line, obj in json_lines(path):
        require_keys(obj, REVIEW_KEYS, path, line)
        users.append(str(obj["reviewerID"]))
        items.append(str(obj["asin"]))
        times.append(str(obj["unixReviewTime"]))
        ratings.append(obj.get("overall"))
        lines.append(line)
        if len(lines) >= rows_per_chunk:
            flush()
    flush()
    if has_ratings and rating_error is not None:
        raise rating_error
    u, i, t, r, at = (np.concatenate(column) for column in zip(*parts, strict=True))
    return RawInteractions(users=u, items=i, timestamps=t, ratings=r if has_ratings else None, lines=at, path=path)


def _name(path: Path) -> str:
    stem = path.name.split(".")[0]
    m = re.fullmatch(r"reviews_(.+?)(?:_5)?", stem)
    return m.group(1) if m else stem


def load_amazon(config: AmazonConfig) -> Dataset:
    """Load an Amazon reviews file (and its metadata)."""
    path = existing_file(config.path, "reviews file")
    raw = _read_reviews(path)
    items = read_amazon_meta(config.items, set(np.unique(raw.items).tolist())) if config.items else None
    meta = {"path": str(path), "items": config.items}
    return build_dataset(raw, config, fmt="amazon", name=_name(path), items=items, items_path=config.items, meta=meta)
