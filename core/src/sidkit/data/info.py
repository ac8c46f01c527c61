"""Summary statistics of a dataset (``sidkit data info``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from .model import Dataset

__all__ = ["dataset_info", "format_info"]


def _date(ts: int) -> str | None:
    """The UTC date of Unix time ``ts``, or None when it is no date in years 1-9999
    (timestamps of another clock, e.g. milliseconds)."""
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def _when(date: str | None, ts: int) -> str:
    return f"{date} ({ts})" if date is not None else f"{ts} (not a date in seconds)"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def dataset_info(ds: Dataset) -> dict[str, Any]:
    """Counts, time range, sequence lengths, text coverage and timestamp ties (JSON-ready).

    ``tied_consecutive_share``: share of consecutive pairs in users' sequences with equal
    timestamps; ``tied_last_pair_share``: share of users (with >= 2 interactions) whose
    last two interactions have equal timestamps, i.e. whose test target's order is arbitrary.
    ``date_min``/``date_max`` are None when the timestamps are no Unix seconds of years 1-9999.
    """
    inter = ds.interactions
    ts = inter.timestamp
    lengths = np.diff(inter.user_offsets())
    same_user = inter.user[1:] == inter.user[:-1]
    tied = same_user & (ts[1:] == ts[:-1])
    last = inter.user_offsets()[1:][lengths >= 2] - 1
    n = len(inter)
    return {
        "name": ds.name,
        "format": ds.meta.get("format"),
        "users": int(inter.n_users),
        "items": int(ds.n_items),
        "interactions": int(n),
        "density": round(n / max(inter.n_users * ds.n_items, 1), 8),
        "timestamp_min": int(ts.min()),
        "timestamp_max": int(ts.max()),
        "date_min": _date(int(ts.min())),
        "date_max": _date(int(ts.max())),
        "seq_len_min": int(lengths.min()),
        "seq_len_mean": round(float(lengths.mean()), 3),
        "seq_len_median": float(np.median(lengths)),
        "seq_len_max": int(lengths.max()),
        "share_items_with_text": _share(int(ds.catalog.has_text().sum()), ds.n_items),
        "tied_consecutive_share": _share(int(tied.sum()), int(same_user.sum())),
        "tied_last_pair_share": _share(int(np.sum(ts[last] == ts[last - 1])), len(last)),
        "ties": ds.meta.get("ties"),
        "tie_seed": ds.meta.get("tie_seed"),
    }


def _pct(x: float) -> str:
    return f"{x:.1%}"


ROWS = (
    ("dataset", lambda i: f"{i['name']} (format {i['format']})"),
    ("users", lambda i: i["users"]),
    ("items", lambda i: i["items"]),
    ("interactions", lambda i: i["interactions"]),
    ("density", lambda i: f"{i['density']:.4%}"),
    ("first interaction", lambda i: _when(i["date_min"], i["timestamp_min"])),
    ("last interaction", lambda i: _when(i["date_max"], i["timestamp_max"])),
    ("sequence length", lambda i: f"min {i['seq_len_min']}, mean {i['seq_len_mean']}, max {i['seq_len_max']}"),
    ("items with text", lambda i: _pct(i["share_items_with_text"])),
    ("tied consecutive pairs", lambda i: _pct(i["tied_consecutive_share"])),
    ("users with tied last pair", lambda i: _pct(i["tied_last_pair_share"])),
    ("ties policy", lambda i: i["ties"] if i["ties"] != "shuffle" else f"shuffle (seed {i['tie_seed']})"),
)


def format_info(info: dict[str, Any]) -> str:
    """:func:`dataset_info` as a two-column table for people."""
    width = max(len(label) for label, _ in ROWS)
    return "\n".join(f"{label:<{width}}  {value(info)}" for label, value in ROWS)
