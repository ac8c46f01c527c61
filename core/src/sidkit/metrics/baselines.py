"""Reference baselines reported next to every run: MostPop and a first-order Markov chain.

They need no training beyond counting and show at a glance whether a model learned
anything (a generative recommender that loses to ``markov`` on Beauty has a bug).

* ``mostpop``: items by training interaction count (ties: lower item index first), the
  same list for every example.
* ``markov``: first-order item transitions ``a -> b`` counted over consecutive pairs of
  the training sequences; an example gets the successors of its last history item by
  transition count, back-filled with the popularity list (items already listed are
  skipped). An example with an empty history, or whose last item was never followed by
  anything, gets the popularity list. Ties, with ``ties="first-seen"`` (the default):
  the transition (resp. item) seen first when the training data is read in order (users
  in order of first appearance in the source file when known, ``Dataset.user_rank``, else
  in index order; each user's items in time order; the validation interactions after the
  user's training items when ranking test examples) comes first. This is exactly what
  ``collections.Counter.most_common`` does on the data read that way, and what reproduces
  the published-style reference numbers (Amazon Beauty 5-core, leave-one-out, full
  catalog, file-order ties: test Recall@10 0.0702, NDCG@10 0.0471). With
  ``ties="popularity"``: more popular successor first, then lower item index (and
  popularity ties by lower index); on Beauty that scores 0.0753 / 0.0492, because most
  successors are seen once and the tie-break decides much of the top 10.

Neither filters history items (see :mod:`sidkit.metrics.ranking`) unless
:func:`baseline_metrics` is asked to (``exclude_history=True``, when the run's decoder leaves
history items out): then each list is ranked deeper and the example's history items are
dropped from it (:func:`~sidkit.metrics.history_filter.drop_history_items`).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np
import scipy.sparse as sp

from ..types import EvalSet, Ragged, Rankings, SplitData
from .history_filter import drop_history_items
from .ranking import check_ks, ranking_metrics

__all__ = [
    "popularity",
    "transition_counts",
    "mostpop_rankings",
    "markov_rankings",
    "baseline_metrics",
    "eval_segments",
    "BASELINES",
    "TIES",
]

BASELINES = ("mostpop", "markov")
TIES = ("first-seen", "popularity")


def _check_items(seqs: Ragged, n_items: int, what: str) -> None:
    if len(seqs.values) and (seqs.values.min() < 0 or seqs.values.max() >= n_items):
        raise ValueError(
            f"{what} contain item indices in [{seqs.values.min()}, {seqs.values.max()}], outside [0, {n_items - 1}]"
        )


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _pair_mask(seqs: Ragged) -> np.ndarray:
    """``mask[p]``: ``values[p] -> values[p + 1]`` lies inside one row."""
    n = len(seqs.values)
    mask = np.ones(max(n - 1, 0), dtype=bool)
    starts = seqs.offsets[1:-1]  # first index of every row but the first
    starts = starts[(starts > 0) & (starts < n)]
    mask[starts - 1] = False
    return mask


def popularity(train: Ragged, n_items: int) -> np.ndarray:
    """Interaction count of every item in ``train`` (``[n_items]`` int64)."""
    _check_items(train, n_items, "training sequences")
    return np.bincount(train.values, minlength=n_items).astype(np.int64)


def transition_counts(train: Ragged, n_items: int) -> sp.csr_matrix:
    """``C[a, b]`` = how often ``b`` directly follows ``a`` in a training sequence (CSR)."""
    _check_items(train, n_items, "training sequences")
    return _Fit.build(train, None, n_items).counts


def eval_segments(examples: EvalSet) -> Ragged:
    """``[last history item, *targets]`` per example (just the targets when the history is
    empty): the interactions an evaluation split adds after its histories, as sequences."""
    hist, tgt = examples.histories, examples.targets
    has_last = (hist.lengths > 0).astype(np.int64)
    lengths = has_last + tgt.lengths
    offsets = np.zeros(len(examples) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.empty(int(offsets[-1]), dtype=np.int64)
    lead = has_last.astype(bool)
    values[offsets[:-1][lead]] = hist.values[hist.offsets[1:][lead] - 1]
    t_pos = np.repeat(offsets[:-1] + has_last - tgt.offsets[:-1], tgt.lengths) + np.arange(len(tgt.values))
    values[t_pos] = tgt.values
    return Ragged(values, offsets)


@attrs.frozen(eq=False)
class _Fit:
    """Counts of the training data read in order (see the module docstring).

    ``counts``: CSR transitions (canonical: sorted indices), ``trans_first[e]``: reading
    position of the first occurrence of CSR entry ``e``; ``pop`` / ``pop_first``: item
    counts and the position where each item is first seen (``n`` when never).
    """

    counts: sp.csr_matrix
    trans_first: np.ndarray
    pop: np.ndarray
    pop_first: np.ndarray

    @classmethod
    def build(
        cls,
        train: Ragged,
        fit_extra: EvalSet | None,
        n_items: int,
        train_users: np.ndarray | None = None,
        user_rank: np.ndarray | None = None,
    ) -> _Fit:
        _check_items(train, n_items, "training sequences")
        seqs = train
        counted = np.ones(len(train.values), dtype=bool)
        # reading order: users in index order, or by user_rank (e.g. first appearance in
        # the file); a user's validation segment after their training row (train row r
        # belongs to train_users[r], or to user r)
        row_user = np.arange(len(train), dtype=np.int64) if train_users is None else np.asarray(train_users)
        if len(row_user) != len(train):
            raise ValueError(f"train_users has {len(row_user)} entries for {len(train)} training rows")

        def read_key(users: np.ndarray) -> np.ndarray:
            return users if user_rank is None else np.asarray(user_rank, dtype=np.int64)[users]

        if fit_extra is None or not len(fit_extra):
            if user_rank is not None:
                seqs = train.take(np.argsort(read_key(row_user), kind="stable"))
        else:
            _check_items(fit_extra.targets, n_items, "fit_extra targets")
            _check_items(fit_extra.histories, n_items, "fit_extra histories")
            seg = eval_segments(fit_extra)
            users = np.concatenate([row_user, fit_extra.users]).astype(np.int64)
            part = np.repeat([0, 1], [len(train), len(seg)])
            order = np.lexsort((part, read_key(users)))
            both = Ragged(
                np.concatenate([train.values, seg.values]),
                np.concatenate([train.offsets, train.offsets[-1] + seg.offsets[1:]]),
            )
            # the leading item of a segment (the last history item) is already counted
            seg_counted = np.ones(len(seg.values), dtype=bool)
            lead = fit_extra.histories.lengths > 0
            seg_counted[seg.offsets[:-1][lead]] = False
            counted_all = np.concatenate([counted, seg_counted])
            seqs = both.take(order)
            counted = Ragged(counted_all.astype(np.int64), both.offsets).take(order).values.astype(bool)

        v = seqs.values
        pop = np.bincount(v[counted], minlength=n_items).astype(np.int64)
        pop_first = np.full(n_items, len(v), dtype=np.int64)
        seen, first_pos = np.unique(v[counted], return_index=True)
        pop_first[seen] = np.flatnonzero(counted)[first_pos]

        mask = _pair_mask(seqs)
        a, b = v[:-1][mask], v[1:][mask]
        keys = a * np.int64(n_items) + b
        uniq, first, cnt = np.unique(keys, return_index=True, return_counts=True)  # sorted by (a, b)
        rows, cols = uniq // n_items, uniq % n_items
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_items), out=indptr[1:])
        counts = sp.csr_matrix((cnt.astype(np.int64), cols.astype(np.int64), indptr), shape=(n_items, n_items))
        return cls(counts=counts, trans_first=first.astype(np.int64), pop=pop, pop_first=pop_first)

    def pop_order(self, ties: str) -> np.ndarray:
        """Items by count descending; ties by first sighting or by lower index."""
        if ties == "first-seen":
            return np.lexsort((self.pop_first, -self.pop)).astype(np.int64)
        return np.argsort(-self.pop, kind="stable").astype(np.int64)


def _check_ties(ties: str) -> str:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(map(repr, TIES))}, got {ties!r}")
    return ties


def _eval_rankings(rows: np.ndarray) -> Rankings:
    return Rankings(np.ascontiguousarray(rows))


def mostpop_rankings(
    train: Ragged, n_items: int, examples: EvalSet, k: int, *, fit_extra: EvalSet | None = None
) -> Rankings:
    """The ``k`` most popular training items (ties: lower index), same list for every example.

    ``fit_extra``: evaluation examples whose targets also count as training interactions
    (the validation examples when ranking the test examples). Pads with ``-1`` when the
    catalog has fewer than ``k`` items.
    """
    k = _check_k(k)
    pop = popularity(train, n_items)
    if fit_extra is not None and len(fit_extra):
        _check_items(fit_extra.targets, n_items, "fit_extra targets")
        pop = pop + np.bincount(fit_extra.targets.values, minlength=n_items)
    order = np.argsort(-pop, kind="stable")[:k]
    row = np.full(k, -1, dtype=np.int64)
    row[: len(order)] = order
    return _eval_rankings(np.tile(row, (len(examples), 1)))


def _markov_table(fit: _Fit, states: np.ndarray, k: int, ties: str) -> np.ndarray:
    """Top-``k`` lists for the given states (item index, or -1 = no history): ``[len(states), k]``."""
    counts, pop = fit.counts, fit.pop
    n_items = len(pop)
    n_states = len(states)
    out = np.full((n_states, k), -1, dtype=np.int64)
    if n_states == 0:
        return out

    # 1) successors: the CSR entries of the wanted rows, sorted by (state, -count, tie key)
    has_row = states >= 0
    lengths = np.zeros(n_states, dtype=np.int64)
    starts = np.zeros(n_states, dtype=np.int64)
    lengths[has_row] = np.diff(counts.indptr)[states[has_row]]
    starts[has_row] = counts.indptr[states[has_row]]
    total = int(lengths.sum())
    m = np.minimum(lengths, k)  # successors listed per state
    if total:
        owner = np.repeat(np.arange(n_states, dtype=np.int64), lengths)
        seg = np.zeros(n_states + 1, dtype=np.int64)
        np.cumsum(lengths, out=seg[1:])
        idx = np.repeat(starts - seg[:-1], lengths) + np.arange(total, dtype=np.int64)
        succ = counts.indices[idx].astype(np.int64)
        cnt = counts.data[idx]
        if ties == "first-seen":
            order = np.lexsort((fit.trans_first[idx], -cnt, owner))
        else:
            order = np.lexsort((succ, -pop[succ], -cnt, owner))
        succ, owner = succ[order], owner[order]
        rank = np.arange(total, dtype=np.int64) - seg[owner]
        keep = rank < k
        out[owner[keep], rank[keep]] = succ[keep]

    # 2) back-fill with popularity, skipping listed successors. A state lists m <= k items,
    # so the first min(k, n_items) popular items always hold the k - m needed.
    if not np.any(m < k):
        return out
    cand = fit.pop_order(ties)[: min(k, n_items)]
    c = len(cand)
    cand_pos = np.full(n_items, -1, dtype=np.int64)
    cand_pos[cand] = np.arange(c)
    excluded = np.zeros((n_states, c), dtype=bool)
    r_l, c_l = np.nonzero(out >= 0)
    p_l = cand_pos[out[r_l, c_l]]
    excluded[r_l[p_l >= 0], p_l[p_l >= 0]] = True
    free_rank = np.cumsum(~excluded, axis=1) - 1  # rank of each free candidate in its row
    dest = m[:, None] + free_rank
    put = ~excluded & (dest < k)
    r_idx, c_idx = np.nonzero(put)
    out[r_idx, dest[r_idx, c_idx]] = cand[c_idx]
    return out


def markov_rankings(
    train: Ragged,
    n_items: int,
    examples: EvalSet,
    k: int,
    *,
    fit_extra: EvalSet | None = None,
    train_users: np.ndarray | None = None,
    ties: str = "first-seen",
    user_rank: np.ndarray | None = None,
) -> Rankings:
    """First-order Markov rankings: successors of each example's last history item.

    Transitions and popularity are counted on ``train``; ``fit_extra`` adds evaluation
    examples as training data: the transitions of ``[last history item, *targets]`` and one
    count per target (the validation examples when ranking the test examples).
    ``train_users[r]`` is the user of training row ``r`` (default ``r``); it places each
    ``fit_extra`` example after its user's training row when reading the data in order,
    which only matters for ``ties="first-seen"`` (see the module docstring for both tie
    rules), as does ``user_rank`` (users are read in that order instead of index order). The work is done once per distinct last item and is fully vectorised; rows
    are padded with ``-1`` only when the catalog has fewer than ``k`` items.
    """
    k = _check_k(k)
    ties = _check_ties(ties)
    fit = _Fit.build(train, fit_extra, n_items, train_users, user_rank)
    hist = examples.histories
    _check_items(hist, n_items, "example histories")
    nonempty = hist.lengths > 0
    last = np.full(len(hist), -1, dtype=np.int64)
    last[nonempty] = hist.values[hist.offsets[1:][nonempty] - 1]
    states, inverse = np.unique(last, return_inverse=True)
    return _eval_rankings(_markov_table(fit, states, k, ties)[inverse.reshape(-1)])


def baseline_metrics(
    split: SplitData,
    ks: Iterable[int] = (5, 10),
    *,
    baselines: Iterable[str] = BASELINES,
    ties: str = "first-seen",
    user_rank: np.ndarray | None = None,
    exclude_history: bool = False,
) -> dict[str, dict[str, float]]:
    """MostPop and Markov metrics on the validation and test examples of ``split``.

    Returns ``{"valid": {...}, "test": {...}}`` with keys ``"mostpop/recall@10"``,
    ``"markov/ndcg@10"``, ... (Recall, NDCG and HR at every cutoff in ``ks``).

    Each baseline is fitted on all the data before the target, as in standard
    leave-one-out practice:

    * valid: ``split.train`` only;
    * test: ``split.train`` plus the validation interactions: each validation example adds
      the segment ``[last history item, *targets]`` (for leave-one-out, the transition
      ``last train item -> valid target`` and one more count of the valid target).

    ``ties`` is the Markov tie rule (module docstring); MostPop ties go to the lower index.
    ``user_rank``: the order users are read in for ``first-seen`` ties (``Dataset.user_rank``,
    first appearance in the source file; default: index order). ``exclude_history``: leave
    each example's history items out of its lists (the protocol of a decoder with
    ``exclude_history = true``).
    """
    ks = check_ks(ks)
    ties = _check_ties(ties)
    baselines = tuple(baselines)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown!r}; available: {', '.join(BASELINES)}")
    k = ks[-1]
    out: dict[str, dict[str, float]] = {}
    for name, examples, extra in (("valid", split.valid, None), ("test", split.test, split.valid)):
        res: dict[str, float] = {}
        # deep enough that k items remain once a history's own items are dropped
        depth = k + (int(examples.histories.lengths.max(initial=0)) if exclude_history else 0)
        for b in baselines:
            if b == "mostpop":
                ranks = mostpop_rankings(split.train, split.n_items, examples, depth, fit_extra=extra)
            else:
                ranks = markov_rankings(
                    split.train, split.n_items, examples, depth, fit_extra=extra, train_users=split.train_users,
                    ties=ties, user_rank=user_rank,
                )
            if exclude_history:
                ranks = Rankings(drop_history_items(ranks.items, examples.histories, k)[0])
            m = ranking_metrics(ranks, examples.targets, ks)
            m.pop("n_examples")
            res.update({f"{b}/{key}": v for key, v in m.items()})
        out[name] = res
    return out
