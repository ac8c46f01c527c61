"""Train / validation / test splits of a dataset.

- :func:`leave_one_out`: per user, the last item is the test target, the one before it
  the validation target.
- :func:`chronological_blocks` / :func:`blocks_split`: all interactions in time order cut
  into equal-count blocks; train on the first ``k``, validate on block ``k``, test on ``k+1``.
- :func:`period_stream`: a first share of the interactions, then equal periods (for
  streaming / incremental updates); :func:`period_split`: one period's train / validation /
  test targets (per user: the period's last interaction is the test target).

Row indices refer to ``ds.interactions``, whose rows are sorted by user then time, so
sorted row indices are each user's interactions in order.
"""

from __future__ import annotations

import numpy as np

from ..types import EvalSet, Ragged, SplitData
from .model import Dataset
from .sequences import ragged_slices

__all__ = [
    "leave_one_out",
    "chronological_blocks",
    "block_eval_set",
    "blocks_split",
    "period_stream",
    "period_split",
    "time_order",
    "user_sequences",
]


def _truncate(starts: np.ndarray, ends: np.ndarray, max_len: int | None) -> np.ndarray:
    return starts if max_len is None else np.maximum(starts, ends - max_len)


def _singletons(values: np.ndarray) -> Ragged:
    return Ragged(values, np.arange(len(values) + 1))


def leave_one_out(ds: Dataset, max_len: int | None = None) -> SplitData:
    """Per user sequence ``s``: test = ``s[:-1] -> s[-1]``, validation = ``s[:-2] -> s[-2]``,
    training sequence ``s[:-2]``. Users with fewer than 3 interactions are not evaluated;
    their whole sequence is training data. Histories keep their last ``max_len`` items;
    training row ``u`` is user ``u``."""
    inter = ds.interactions
    offsets = inter.user_offsets()
    starts, ends = offsets[:-1], offsets[1:]
    evaluated = ends - starts >= 3
    train = ragged_slices(inter.item, starts, np.where(evaluated, ends - 2, ends))
    users = np.flatnonzero(evaluated)

    def examples(target_back: int) -> EvalSet:
        target = ends[users] - target_back
        history = ragged_slices(inter.item, _truncate(starts[users], target, max_len), target)
        return EvalSet(users, history, _singletons(inter.item[target]))

    return SplitData(
        train, examples(2), examples(1), ds.n_items, name="leave-one-out", train_users=np.arange(inter.n_users)
    )


def time_order(ds: Dataset) -> np.ndarray:
    """All interaction rows sorted by timestamp (equal timestamps by row, i.e. by user then tie order)."""
    ts = ds.interactions.timestamp
    return np.lexsort((np.arange(len(ts)), ts))


def chronological_blocks(ds: Dataset, n_blocks: int = 10) -> list[np.ndarray]:
    """The interactions in time order cut into ``n_blocks`` contiguous blocks of equal
    count (sizes differ by at most one); each block's rows in time order."""
    if not 1 <= n_blocks <= len(ds.interactions):
        raise ValueError(
            f"n_blocks must be between 1 and the number of interactions ({len(ds.interactions)}), got {n_blocks}"
        )
    return np.array_split(time_order(ds), n_blocks)


def period_stream(ds: Dataset, first_share: float = 0.6, n_periods: int = 4) -> list[np.ndarray]:
    """The first ``first_share`` of the interactions (by time), then the rest cut into
    ``n_periods`` equal-count periods: ``n_periods + 1`` arrays of rows in time order."""
    if not 0 < first_share < 1:
        raise ValueError(f"first_share must be between 0 and 1 (exclusive), got {first_share}")
    if n_periods < 1:
        raise ValueError(f"n_periods must be >= 1, got {n_periods}")
    order = time_order(ds)
    cut = int(round(first_share * len(order)))
    return [order[:cut], *np.array_split(order[cut:], n_periods)]


def period_split(ds: Dataset, periods: list[np.ndarray], t: int, max_len: int | None = None) -> SplitData:
    """Period ``t`` of ``periods`` (:func:`period_stream`): per user with interactions in it,
    the last is the test target, the one before it the validation target (users with 2 or
    more), earlier ones are training targets (users with 3 or more). A history is the
    user's last ``max_len`` interactions before its target, earlier periods included.
    Training row ``r`` (user ``train_users[r]``) is the last ``max_len`` interactions before
    the user's first training target (context only, ``train_first_target[r]`` of them), then
    the training targets."""
    if not 0 <= t < len(periods):
        raise ValueError(f"period {t} does not exist: there are {len(periods)} periods (0..{len(periods) - 1})")
    inter = ds.interactions
    offsets = inter.user_offsets()
    rows = np.sort(np.asarray(periods[t], dtype=np.int64))
    users = np.unique(inter.user[rows])
    first, end = _by_user(inter.user[rows], users)  # a user's period rows are contiguous rows
    count = end - first

    def before(target: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start row of the last ``max_len`` interactions before each ``target`` row."""
        return _truncate(offsets[owners], target, max_len), target

    def examples(back: int) -> EvalSet:
        keep = count >= back
        target = rows[end[keep] - back]
        return EvalSet(users[keep], ragged_slices(inter.item, *before(target, users[keep])), _singletons(inter.item[target]))

    trained = count >= 3
    train_users = users[trained]
    start_row = rows[first[trained]]
    context_start, _ = before(start_row, train_users)
    train = ragged_slices(inter.item, context_start, rows[end[trained] - 2])
    return SplitData(
        train, examples(2), examples(1), ds.n_items, name=f"period-{t}-of-{len(periods)}",
        train_users=train_users, train_first_target=start_row - context_start,
    )


def _by_user(users: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions of each user of ``keep`` in the sorted array ``users``."""
    return np.searchsorted(users, keep, "left"), np.searchsorted(users, keep, "right")


def user_sequences(ds: Dataset, rows: np.ndarray) -> tuple[Ragged, np.ndarray]:
    """Per user (ascending) the items of interaction ``rows`` in time order, and the users."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    row_users = ds.interactions.user[rows]
    users = np.unique(row_users)
    return ragged_slices(ds.interactions.item[rows], *_by_user(row_users, users)), users


def _item_mask(n_items: int, allowed: np.ndarray | None) -> np.ndarray | None:
    if allowed is None:
        return None
    allowed = np.asarray(allowed)
    if allowed.dtype == bool:
        return allowed
    mask = np.zeros(n_items, dtype=bool)
    mask[allowed] = True
    return mask


def block_eval_set(
    ds: Dataset,
    history_rows: np.ndarray,
    target_rows: np.ndarray,
    max_len: int | None = None,
    allowed_items: np.ndarray | None = None,
) -> EvalSet:
    """One example per user with both history and target rows: the last ``max_len`` items
    of the history rows -> every distinct item of the target rows (in first-seen order;
    items already in the history count too). ``allowed_items`` (indices or a boolean mask)
    drops other items from histories and targets first."""
    inter = ds.interactions
    hist, target = np.sort(history_rows), np.sort(target_rows)
    mask = _item_mask(ds.n_items, allowed_items)
    if mask is not None:
        hist, target = hist[mask[inter.item[hist]]], target[mask[inter.item[target]]]
    key = inter.user[target] * ds.n_items + inter.item[target]
    target = target[np.sort(np.unique(key, return_index=True)[1])]
    hist_users, target_users = inter.user[hist], inter.user[target]
    users = np.intersect1d(hist_users, target_users)
    h_start, h_end = _by_user(hist_users, users)
    t_start, t_end = _by_user(target_users, users)
    return EvalSet(
        users,
        ragged_slices(inter.item[hist], _truncate(h_start, h_end, max_len), h_end),
        ragged_slices(inter.item[target], t_start, t_end),
    )


def blocks_split(ds: Dataset, n_blocks: int = 10, k: int | None = None, max_len: int | None = None) -> SplitData:
    """Rolling-origin split over :func:`chronological_blocks`: train on blocks ``[0, k)``,
    validate on block ``k`` (history: the training blocks) and test on block ``k + 1``
    (history: blocks ``[0, k]``). ``k`` defaults to ``n_blocks - 2``. Training rows are the
    users with training interactions (``train_users``)."""
    k = n_blocks - 2 if k is None else k
    if not 1 <= k <= n_blocks - 2:
        raise ValueError(f"k must be between 1 and n_blocks - 2 ({n_blocks - 2}), got {k}")
    blocks = chronological_blocks(ds, n_blocks)
    train_rows = np.sort(np.concatenate(blocks[:k]))
    train, train_users = user_sequences(ds, train_rows)
    valid = block_eval_set(ds, train_rows, blocks[k], max_len)
    test = block_eval_set(ds, np.concatenate([train_rows, blocks[k]]), blocks[k + 1], max_len)
    return SplitData(train, valid, test, ds.n_items, name=f"blocks-{k}-of-{n_blocks}", train_users=train_users)
