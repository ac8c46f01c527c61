"""Format ``movielens``: a GroupLens MovieLens folder.

Layouts: 100K (``u.data`` TAB ``user item rating ts``; ``u.item`` ``|``-separated,
latin-1, 24 fields, genre flags in ``u.genre`` order), 1M/10M (``ratings.dat``
``user::item::rating::ts``; ``movies.dat`` ``item::title::Genre1|Genre2``, UTF-8 with a
latin-1 fallback) and 20M/25M/latest (``ratings.csv``, ``movies.csv`` with headers).
Item fields: ``title``, ``genres`` (list) and, for 100K, ``release_date``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ...config.validators import non_empty
from ...errors import DataError
from ..model import Dataset
from .build import RawInteractions, build_dataset, raw_from_columns
from .columns import read_columns
from .options import LoadOptions
from .reading import check_widths, clean_text, column_index, read_records, read_table

__all__ = ["MovieLensConfig", "load_movielens"]

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
FALLBACK = ("utf-8", "latin-1")

Items = dict[str, dict[str, Any]]


@attrs.frozen(kw_only=True)
class MovieLensConfig(LoadOptions):
    """``path``: the MovieLens folder (holding ``u.data``, ``ratings.dat`` or ``ratings.csv``)."""

    path: str = attrs.field(validator=non_empty("the MovieLens folder"))


def _genres_100k(folder: Path) -> list[str]:
    path = folder / "u.genre"
    if not path.is_file():
        return list(GENRES_100K)
    rows, lines = read_records(path, "|", quoted=False, encodings=FALLBACK)
    check_widths(rows, lines, 2, path, "|")
    return [name for name, _index in rows]  # listed in flag order


def _ratings(path: Path, sep: str, encodings: tuple[str, ...]) -> RawInteractions:
    """``user item rating timestamp`` records without a header (100K, 1M, 10M)."""
    columns = read_columns(
        path,
        sep,
        ids={"user": 0, "item": 1},
        numbers={"rating": 2, "time": 3},
        header=False,
        width=4,
        quoted=False,
        encodings=encodings,
    )
    return raw_from_columns(columns, path)


def _read_100k(folder: Path) -> tuple[RawInteractions, Items | None, Path | None]:
    path = folder / "u.data"
    raw = _ratings(path, "\t", ("utf-8",))
    item_path = folder / "u.item"
    if not item_path.is_file():
        return raw, None, None
    genres = _genres_100k(folder)
    rows, lines = read_records(item_path, "|", quoted=False, encodings=("latin-1",))
    check_widths(rows, lines, 5 + len(genres), item_path, "|")
    items = {
        r[0]: {
            "title": clean_text(r[1]),
            "genres": [g for g, flag in zip(genres, r[5:], strict=True) if flag.strip() == "1"],
            "release_date": r[2],
        }
        for r in rows
    }
    return raw, items, item_path


def _genre_list(text: str) -> list[str]:
    return [g for g in text.split("|") if g and g != "(no genres listed)"]


def _read_dat(folder: Path) -> tuple[RawInteractions, Items | None, Path | None]:
    path = folder / "ratings.dat"
    raw = _ratings(path, "::", FALLBACK)
    item_path = folder / "movies.dat"
    if not item_path.is_file():
        return raw, None, None
    rows, lines = read_records(item_path, "::", quoted=False, encodings=FALLBACK)
    check_widths(rows, lines, 3, item_path, "::")
    return raw, {r[0]: {"title": clean_text(r[1]), "genres": _genre_list(r[2])} for r in rows}, item_path


def _read_csv(folder: Path) -> tuple[RawInteractions, Items | None, Path | None]:
    path = folder / "ratings.csv"
    columns = read_columns(
        path,
        ",",
        ids={"user": "userId", "item": "movieId"},
        numbers={"rating": "rating", "time": "timestamp"},
        header=True,
    )
    raw = raw_from_columns(columns, path)
    item_path = folder / "movies.csv"
    if not item_path.is_file():
        return raw, None, None
    header, rows, lines = read_table(item_path, ",")
    item, title, genres = (column_index(header, c, item_path) for c in ("movieId", "title", "genres"))
    return raw, {r[item]: {"title": clean_text(r[title]), "genres": _genre_list(r[genres])} for r in rows}, item_path


LAYOUTS = (("u.data", _read_100k), ("ratings.dat", _read_dat), ("ratings.csv", _read_csv))


def load_movielens(config: MovieLensConfig) -> Dataset:
    """Load a MovieLens folder (the layout is found from the file names)."""
    folder = Path(config.path)
    if not folder.is_dir():
        raise DataError("not a folder (format movielens reads the MovieLens folder)", path=folder)
    for marker, read in LAYOUTS:
        if (folder / marker).is_file():
            raw, items, item_path = read(folder)
            break
    else:
        expected = ", ".join(m for m, _ in LAYOUTS)
        raise DataError(f"no MovieLens ratings file; expected one of {expected}", path=folder)
    meta = {"path": str(folder), "layout": marker, "items": None if item_path is None else str(item_path)}
    return build_dataset(raw, config, fmt="movielens", name=folder.name, items=items, items_path=item_path, meta=meta)
