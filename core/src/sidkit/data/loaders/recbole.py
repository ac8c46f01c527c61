"""Format ``recbole``: RecBole atomic files.

``path`` is the ``.inter`` file and ``items`` the optional ``.item`` file: TAB-separated,
a header of ``name:type`` fields (``token``, ``token_seq``, ``float``, ``float_seq``),
quoted fields (``"``) may hold TABs and newlines. ``token_seq`` values are split on spaces,
except values written as a quoted Python list (``'Beauty', 'Hair Care'``), which are read as that list.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import attrs

from ...config.validators import non_empty
from ...errors import DataError
from ..model import Dataset
from .build import build_dataset, raw_from_columns
from .columns import read_columns
from .options import LoadOptions
from .reading import clean_text, column_index, existing_file, read_header, read_table

__all__ = ["RecBoleConfig", "load_recbole", "read_atomic_items"]

TYPES = ("token", "token_seq", "float", "float_seq")


@attrs.frozen(kw_only=True)
class RecBoleConfig(LoadOptions):
    """``path``: the ``.inter`` file; ``items``: the ``.item`` file. ``*_col`` name the fields
    (without ``:type``); the rating field is used when the file has it."""

    path: str = attrs.field(validator=non_empty("the RecBole .inter file"))
    items: str | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str = "timestamp"
    rating_col: str | None = "rating"


def _header(raw: list[str], path: Path) -> tuple[list[str], list[str]]:
    names, types = [], []
    for field in raw:
        name, _, kind = field.partition(":")
        if kind not in TYPES:
            raise DataError(
                f"header field {field!r} must be name:type with type one of {', '.join(TYPES)}", path=path, line=1
            )
        names.append(name)
        types.append(kind)
    return names, types


def _token_seq(text: str) -> list[str]:
    text = text.strip()
    if text[:1] in ("'", '"'):
        try:
            value = ast.literal_eval(f"[{text}]")
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return text.split()


def _value(text: str, kind: str, column: str, path: Path, line: int) -> Any:
    try:
        if kind == "float":
            return float(text) if text.strip() else None
        if kind == "float_seq":
            return [float(v) for v in text.split()]
    except ValueError:
        raise DataError(f"{column} {text!r} is not a number ({kind} field)", path=path, line=line) from None
    return _token_seq(text) if kind == "token_seq" else text


def read_atomic_items(path: str | Path, item_col: str = "item_id") -> dict[str, dict[str, Any]]:
    """External item id -> typed fields of a RecBole ``.item`` file (HTML entities decoded)."""
    path = existing_file(path, "item file")
    header, rows, lines = read_table(path, "\t")
    names, types = _header(header, path)
    at = column_index(names, item_col, path)
    return {
        r[at]: {
            name: clean_text(_value(text, kind, name, path, line))
            for i, (name, kind, text) in enumerate(zip(names, types, r, strict=True))
            if i != at
        }
        for r, line in zip(rows, lines, strict=True)
    }


def load_recbole(config: RecBoleConfig) -> Dataset:
    """Load a RecBole ``.inter`` file (and ``.item`` file)."""
    path = existing_file(config.path, "interaction file")
    header = read_header(path, "\t")
    names, _types = _header(header, path)
    cols = {"user": config.user_col, "item": config.item_col, "time": config.time_col}
    index = {role: column_index(names, name, path) for role, name in cols.items()}
    numbers = {"time": index["time"]}
    if config.rating_col in names:
        numbers = {"rating": names.index(config.rating_col), "time": index["time"]}
    columns = read_columns(
        path,
        "\t",
        ids={"user": index["user"], "item": index["item"]},
        numbers=numbers,
        header=True,
        names={"time": config.time_col, "rating": config.rating_col or ""},
    )
    raw = raw_from_columns(columns, path)
    items = read_atomic_items(config.items, config.item_col) if config.items else None
    meta = {"path": str(path), "items": config.items}
    return build_dataset(raw, config, fmt="recbole", name=path.stem, items=items, items_path=config.items, meta=meta)
