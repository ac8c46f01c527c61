"""Top-K ranking metrics (Recall, NDCG, HR, MRR) against the full catalog, vectorised in numpy.

Conventions (the ones used by TIGER, LC-Rec, RecBole full-sort evaluation):

* Rankings are over the full catalog: ``rankings.items[j]`` is the top-K list of example
  ``j`` (best first), ``-1`` pads missing slots and never counts as a hit.
* **History items are not filtered out** by the metrics. An item the user already
  interacted with may appear in the ranking and simply counts as a miss unless it is a
  positive. This is the standard practice of the generative-recommendation papers;
  filtering would raise every number and make comparisons with them wrong. A decoder with
  ``exclude_history = true`` leaves history items out of its own rankings; the pipeline
  then ranks the baselines the same way (:mod:`sidkit.metrics.history_filter`).
* Positives are the example's targets (one for leave-one-out, several for block splits);
  duplicates among them count once. If an item appears twice in one ranking, only its
  first (best) position counts.
* ``recall@K`` = |top-K ∩ positives| / |positives|; ``hr@K`` = 1 if any positive is in the
  top K; ``ndcg@K`` = DCG / IDCG with binary gains, DCG = Σ_hits 1/log2(rank + 1) (rank
  1-based), IDCG = Σ_{r=1..min(|positives|, K)} 1/log2(r + 1); ``mrr@K`` = 1 / rank of the
  first positive in the top K (0 if none). With a single positive, recall@K = hr@K.
* Each metric is the mean over examples that have at least one positive; examples without
  positives are left out, and ``n_examples`` in the output says how many were averaged.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..types import Ragged, Rankings

__all__ = ["ranking_metrics", "hit_positions", "check_ks", "METRICS"]

METRICS = ("recall", "ndcg", "hr", "mrr")
DEFAULT_METRICS = ("recall", "ndcg", "hr")


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """Sorted unique cutoffs; ``ValueError`` unless they are positive integers (at least one)."""
    ks = list(ks) if not isinstance(ks, (int, np.integer)) else [ks]
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1]
    if not ks or bad:
        raise ValueError(f"ks must be a non-empty list of positive integers, got {ks!r}")
    return tuple(sorted({int(k) for k in ks}))


def _items_of(rankings: Rankings | np.ndarray) -> np.ndarray:
    items = rankings.items if isinstance(rankings, Rankings) else np.asarray(rankings, dtype=np.int64)
    if items.ndim != 2:
        raise ValueError(f"rankings must be 2-D [n_examples, K], got shape {items.shape}")
    return items


def hit_positions(items: np.ndarray, targets: Ragged) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the rankings hit a positive.

    Returns ``(rows, cols, n_pos)``: the (example, 0-based rank) of every hit in row-major
    order (at most one per distinct positive: a repeated item only counts at its first
    position) and the number of distinct positives of every example.

    Membership is one ``searchsorted`` of the keys ``row * M + item`` of the ranked items into
    the sorted unique keys of the positives, so the cost is O(n·K·log P) with no Python loop.
    """
    items = np.asarray(items, dtype=np.int64)
    n, k = items.shape
    if len(targets) != n:
        raise ValueError(
            f"rankings have {n} rows but there are {len(targets)} target rows: need exactly one ranking per example"
        )
    if len(targets.values) and targets.values.min() < 0:
        raise ValueError("targets contain negative item indices; positives must be item indices >= 0")
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return empty, empty, np.zeros(0, dtype=np.int64)
    hi = max(int(targets.values.max()) if len(targets.values) else 0, int(items.max()) if items.size else 0)
    m = np.int64(hi + 1)
    t_rows = np.repeat(np.arange(n, dtype=np.int64), targets.lengths)
    t_keys = np.unique(t_rows * m + targets.values)  # sorted, duplicates within a row dropped
    n_pos = np.bincount(t_keys // m, minlength=n).astype(np.int64)
    if len(t_keys) == 0 or k == 0:
        return empty, empty, n_pos

    r_keys = np.arange(n, dtype=np.int64)[:, None] * m + items
    pos = np.searchsorted(t_keys, r_keys)
    np.minimum(pos, len(t_keys) - 1, out=pos)
    hit = (t_keys[pos] == r_keys) & (items >= 0)
    rows, cols = np.nonzero(hit)  # row-major: cols increase within a row
    if len(rows):
        # a repeated item in one ranking only counts at its first position
        _, first = np.unique(r_keys[rows, cols], return_index=True)
        if len(first) < len(rows):
            first.sort()
            rows, cols = rows[first], cols[first]
    return rows.astype(np.int64), cols.astype(np.int64), n_pos


def ranking_metrics(
    rankings: Rankings | np.ndarray,
    targets: Ragged,
    ks: Iterable[int] = (5, 10),
    *,
    metrics: Iterable[str] = DEFAULT_METRICS,
    capped_recall: bool = False,
) -> dict[str, float]:
    """Mean Recall/NDCG/HR (and optionally MRR) at each cutoff, keyed ``"recall@10"`` etc.

    ``rankings``: top-K items per example (``Rankings`` or an int array ``[n, K]``, ``-1``
    padding); ``targets``: the positives of each example (same length). ``metrics`` picks
    among ``"recall", "ndcg", "hr", "mrr"``. The output also has ``n_examples``: the number
    of examples with at least one positive, which are the ones averaged. When there are
    none, every metric is 0.0 (and ``n_examples`` 0.0).

    Raises ``ValueError`` when the lengths differ or the rankings are shallower than
    ``max(ks)``.

    ``capped_recall``: recall@K = hits / min(|positives|, K) (block-based future prediction,
    where a user may have more positives than K; the staleness paper's definition) instead
    of hits / |positives|.
    """
    ks = check_ks(ks)
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown!r}; available: {', '.join(METRICS)}")
    items = _items_of(rankings)
    if len(items) != len(targets):
        raise ValueError(
            f"rankings have {len(items)} rows but there are {len(targets)} examples (targets): "
            "need exactly one ranking per example"
        )
    kmax = ks[-1]
    if items.shape[1] < kmax:
        raise ValueError(
            f"rankings have K={items.shape[1]} columns but the largest cutoff is {kmax}: "
            f"rank at least max(ks)={kmax} items per example"
        )
    items = items[:, :kmax]  # deeper ranks never matter
    rows, cols, n_pos = hit_positions(items, targets)
    n = len(items)
    valid = n_pos > 0
    n_valid = int(valid.sum())
    out: dict[str, float] = {}
    discount = 1.0 / np.log2(np.arange(2, kmax + 2, dtype=np.float64))  # rank r (1-based) -> 1/log2(r+1)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])  # ideal[j] = IDCG with j hits
    if "mrr" in metrics and len(rows):
        # rows are sorted, so the first entry of each row is its best-ranked hit
        first_rows, first_idx = np.unique(rows, return_index=True)
        first_col = np.full(n, kmax, dtype=np.int64)
        first_col[first_rows] = cols[first_idx]
    for k in ks:
        sel = cols < k
        r, c = rows[sel], cols[sel]
        n_hits = np.bincount(r, minlength=n).astype(np.float64)
        values: dict[str, np.ndarray] = {}
        if "recall" in metrics:
            denominator = np.minimum(n_pos, k) if capped_recall else n_pos
            values["recall"] = n_hits / np.maximum(denominator, 1)
        if "ndcg" in metrics:
            dcg = np.bincount(r, weights=discount[c], minlength=n)
            values["ndcg"] = dcg / ideal[np.clip(np.minimum(n_pos, k), 1, None)]
        if "hr" in metrics:
            values["hr"] = (n_hits > 0).astype(np.float64)
        if "mrr" in metrics:
            rr = np.zeros(n)
            if len(rows):
                inside = first_col < k
                rr[inside] = 1.0 / (first_col[inside] + 1)
            values["mrr"] = rr
        for name in metrics:
            out[f"{name}@{k}"] = float(values[name][valid].mean()) if n_valid else 0.0
    out["n_examples"] = float(n_valid)
    return out
