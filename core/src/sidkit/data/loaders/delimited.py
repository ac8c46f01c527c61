"""Format ``delimited``: a CSV/TSV interaction file with a header, and an optional item
file (JSON lines, or CSV/TSV with a header)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ...config.validators import non_empty
from ..model import Dataset
from .build import build_dataset, raw_from_columns
from .columns import read_columns
from .options import LoadOptions
from .parquet import is_parquet, read_parquet_columns
from .reading import clean_text, column_index, existing_file, json_lines, read_table, require_keys

__all__ = ["DelimitedConfig", "load_delimited", "read_item_file", "separator_for"]

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@attrs.frozen(kw_only=True)
class DelimitedConfig(LoadOptions):
    """``path``: the interaction file (CSV/TSV, or Parquet: ``.parquet``, needs ``sidkit[parquet]``), ``sep`` its separator (default: TAB for ``.tsv``/``.tab``,
    else ``,``), ``*_col`` its column names (``rating_col`` optional). ``items``: an item file,
    JSON lines or CSV/TSV, with the item id under ``item_id_key``; its other keys are the item's fields."""

    path: str = attrs.field(validator=non_empty("the interaction file (CSV or TSV with a header)"))
    items: str | None = None
    sep: str | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str = "timestamp"
    rating_col: str | None = None
    item_id_key: str = "item_id"


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    return suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")


def separator_for(path: Path) -> str:
    """TAB for ``.tsv``/``.tab`` files (also gzipped), else ``,``."""
    return "\t" if _suffix(path) in (".tsv", ".tab") else ","


def read_item_file(path: str | Path, key: str = "item_id") -> dict[str, dict[str, Any]]:
    """External item id -> fields (every other key, HTML entities decoded) of a JSON-lines
    or CSV/TSV item file."""
    path = existing_file(path, "item file")
    items: dict[str, dict[str, Any]] = {}
    if _suffix(path) in JSON_SUFFIXES:
        for line, obj in json_lines(path):
            require_keys(obj, (key,), path, line)
            items[str(obj[key])] = {k: clean_text(v) for k, v in obj.items() if k != key}
        return items
    header, rows, _lines = read_table(path, separator_for(path))
    at = column_index(header, key, path)
    for r in rows:
        items[r[at]] = {name: clean_text(v) for i, (name, v) in enumerate(zip(header, r, strict=True)) if i != at}
    return items


def load_delimited(config: DelimitedConfig) -> Dataset:
    """Load a CSV/TSV interaction file (and its item file)."""
    path = existing_file(config.path, "interaction file")
    numbers = {"rating": config.rating_col, "time": config.time_col} if config.rating_col else {"time": config.time_col}
    if is_parquet(path):
        columns = read_parquet_columns(path, ids={"user": config.user_col, "item": config.item_col}, numbers=numbers)
    else:
        columns = read_columns(
            path,
            config.sep or separator_for(path),
            ids={"user": config.user_col, "item": config.item_col},
            numbers=numbers,
            header=True,
            names=numbers,
        )
    raw = raw_from_columns(columns, path)
    items = read_item_file(config.items, config.item_id_key) if config.items else None
    meta = {"path": str(path), "items": config.items}
    return build_dataset(
        raw, config, fmt="delimited", name=path.name.split(".")[0], items=items, items_path=config.items, meta=meta
    )
