"""From parsed rows to a :class:`Dataset`: check, filter, de-duplicate, k-core, index, order.

Users and items get dense indices in sorted external-id order (numerically when every id
is an integer, else lexicographically); only items with interactions left are in the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ...errors import DataError
from ..model import Catalog, Dataset, Interactions
from ..ordering import order_interactions
from .columns import Columns, canonical_ints, decode_ids
from .options import LoadOptions

__all__ = ["RawInteractions", "raw_from_columns", "build_dataset", "sorted_ids", "kcore_mask"]


@attrs.frozen(eq=False)
class RawInteractions:
    """Interactions as parsed: external ids (bytes arrays in ``encoding``, or str arrays),
    timestamps, optional ratings, and the 1-based line of each row in ``path`` (for error
    messages)."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    ratings: np.ndarray | None
    lines: np.ndarray
    path: Path | str
    encoding: str = "utf-8"

    def __len__(self) -> int:
        return len(self.timestamps)


def raw_from_columns(columns: Columns, path: Path) -> RawInteractions:
    """Interactions from the columns ``user``, ``item``, ``time`` (and ``rating``) of
    :func:`~sidkit.data.loaders.columns.read_columns`."""
    ratings = columns.numbers.get("rating")
    return RawInteractions(
        users=columns.ids["user"],
        items=columns.ids["item"],
        timestamps=columns.numbers["time"],
        ratings=None if ratings is None else ratings.astype(np.float64),
        lines=columns.lines,
        path=path,
        encoding=columns.encoding,
    )


def sorted_ids(ids: np.ndarray, encoding: str = "utf-8") -> tuple[np.ndarray, np.ndarray]:
    """``(unique_ids, codes)`` with ``unique_ids[codes] == ids`` (``unique_ids`` as str);
    unique ids sorted numerically when all are distinct integers, else lexicographically.
    ``ids``: a bytes array (text in ``encoding``), a str array, or integers (ids that were
    canonical integers: ``str(int)`` is their text). Vectorised: ids that are
    all canonical integers are sorted as int64, others as strings."""
    ids = np.asarray(ids)
    ints = ids if ids.dtype.kind in "iu" else canonical_ints(ids)
    if ints is not None:  # "7" and "07" never both: numeric order, as below
        uniq, codes = np.unique(ints, return_inverse=True)
        return uniq.astype(str), codes.reshape(-1)
    uniq, codes = np.unique(ids, return_inverse=True)
    uniq = decode_ids(uniq, encoding)
    try:
        numbers = uniq.astype(np.int64)
        numeric = len(np.unique(numbers)) == len(uniq)  # "7" and "07" stay apart
    except (ValueError, OverflowError):
        numeric = False
    order = np.argsort(numbers if numeric else uniq, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[codes.reshape(-1)]


def kcore_mask(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Rows kept by the iterative k-core: every kept user and item has >= ``k`` kept rows."""
    keep = np.ones(len(user), dtype=bool)
    if k <= 1:
        return keep
    n_users, n_items = int(user.max(initial=-1)) + 1, int(item.max(initial=-1)) + 1
    while True:
        users = np.bincount(user[keep], minlength=n_users)
        items = np.bincount(item[keep], minlength=n_items)
        new = keep & (users[user] >= k) & (items[item] >= k)
        if new.sum() == keep.sum():
            return keep
        keep = new


def _dedup_mask(user: np.ndarray, item: np.ndarray, n_items: int, policy: str) -> np.ndarray:
    keep = np.ones(len(user), dtype=bool)
    if policy == "none" or len(user) == 0:
        return keep
    key = user.astype(np.int64) * n_items + item
    if policy == "last":
        key = key[::-1]
    _, first = np.unique(key, return_index=True)
    if policy == "last":
        first = len(user) - 1 - first
    keep[:] = False
    keep[first] = True
    return keep


def _whole_seconds(ts: np.ndarray) -> np.ndarray:
    return (np.floor(ts) if ts.dtype.kind == "f" else ts).astype(np.int64)


def _check_known_items(
    raw: RawInteractions, ids: np.ndarray, codes: np.ndarray, items: Mapping[str, Any], items_path: Any
) -> None:
    known = np.fromiter((i in items for i in ids.tolist()), dtype=bool, count=len(ids))
    if not known.all():
        i = int(np.argmin(known[codes]))
        raise DataError(
            f"item id {str(ids[codes[i]])!r} is not in the item file {items_path} (set strict_items = false to allow it)",
            path=raw.path,
            line=int(raw.lines[i]),
        )


def build_dataset(
    raw: RawInteractions,
    options: LoadOptions,
    *,
    fmt: str,
    name: str,
    items: Mapping[str, Mapping[str, Any]] | None = None,
    items_path: Any = None,
    meta: Mapping[str, Any] | None = None,
) -> Dataset:
    """Apply ``options`` to ``raw`` and index it; ``items`` maps external item id to text fields."""
    if len(raw) == 0:
        raise DataError("no interactions", path=raw.path)
    user_ids, user = sorted_ids(raw.users, raw.encoding)
    item_ids, item = sorted_ids(raw.items, raw.encoding)
    if items is not None and options.strict_items:
        _check_known_items(raw, item_ids, item, items, items_path)
    counts = {"rows": len(raw)}
    rows = np.arange(len(raw))
    if options.min_rating is not None:
        if raw.ratings is None:
            raise DataError(f"min_rating = {options.min_rating} but the interactions have no ratings", path=raw.path)
        rows = rows[raw.ratings >= options.min_rating]
        counts["after_min_rating"] = len(rows)
    timestamp = np.asarray(raw.timestamps)
    rows = rows[
        order_interactions(user[rows], timestamp[rows], options.ties, item_rank=item[rows], seed=options.tie_seed)
    ]
    rows = rows[_dedup_mask(user[rows], item[rows], len(item_ids), options.dedup)]
    counts["duplicates_dropped"] = counts.get("after_min_rating", counts["rows"]) - len(rows)
    rows = rows[kcore_mask(user[rows], item[rows], options.kcore)]
    if len(rows) == 0:
        raise DataError(
            f"no interactions left after the filters (min_rating={options.min_rating}, kcore={options.kcore})",
            path=raw.path,
        )
    kept_users, user_index = np.unique(user[rows], return_inverse=True)
    kept_items, item_index = np.unique(item[rows], return_inverse=True)
    catalog_ids = [str(i) for i in item_ids[kept_items]]
    fields = [dict(items.get(i, {})) if items is not None else {} for i in catalog_ids]
    interactions = Interactions(
        user=user_index.reshape(-1).astype(np.int64),
        item=item_index.reshape(-1).astype(np.int64),
        timestamp=_whole_seconds(timestamp[rows]),
        user_ids=[str(u) for u in user_ids[kept_users]],
    )
    counts.update(interactions=len(rows), users=len(kept_users), items=len(kept_items))
    info = {
        "format": fmt,
        "ties": options.ties,
        "tie_seed": options.tie_seed,
        "filters": {"min_rating": options.min_rating, "dedup": options.dedup, "kcore": options.kcore},
        "strict_items": options.strict_items,
        "counts": counts,
        **(meta or {}),
    }
    first_row = np.full(len(user_ids), len(user), dtype=np.int64)
    np.minimum.at(first_row, user, np.arange(len(user), dtype=np.int64))
    user_rank = np.empty(len(kept_users), dtype=np.int64)
    user_rank[np.argsort(first_row[kept_users], kind="stable")] = np.arange(len(kept_users))
    return Dataset(Catalog(catalog_ids, fields), interactions, name=name, meta=info, user_rank=user_rank)
