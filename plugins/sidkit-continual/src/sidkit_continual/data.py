"""Training and evaluation data of the continual protocol, per item space.

A SID table of the continual runner covers only the items seen in the interactions its
encoder and tokenizer were fitted on: an :class:`ItemSpace` (sorted global item indices;
row ``r`` of the table is item ``items[r]``). Generators train and decode in that space's
local indices ``0..len-1``; rankings are mapped back to global item indices.
"""

from __future__ import annotations

import attrs
import numpy as np
from sidkit.data import user_sequences
from sidkit.errors import SidkitError
from sidkit.types import EvalSet, ItemEmbeddings, Ragged, SplitData

__all__ = [
    "ItemSpace", "user_sequences", "training_split", "local_eval_set", "encoder_split", "empty_eval_set",
    "period_train_rows", "local_split",
]


@attrs.frozen(eq=False)
class ItemSpace:
    """The items a SID table covers: ``items[r]`` is the global index of row ``r``."""

    items: np.ndarray = attrs.field(converter=lambda a: np.unique(np.asarray(a, dtype=np.int64)))

    @classmethod
    def of_rows(cls, dataset, rows: np.ndarray) -> ItemSpace:
        """The distinct items of interaction ``rows``."""
        return cls(dataset.interactions.item[rows])

    def __len__(self) -> int:
        return len(self.items)

    def mask(self, n_items: int) -> np.ndarray:
        out = np.zeros(n_items, dtype=bool)
        out[self.items] = True
        return out

    def local(self, items: np.ndarray) -> np.ndarray:
        """Local indices of global ``items`` (every one must be in the space)."""
        items = np.asarray(items, dtype=np.int64)
        pos = np.searchsorted(self.items, items)
        if len(self.items) == 0:
            ok = np.zeros(len(items), dtype=bool)
        else:
            ok = (pos < len(self.items)) & (self.items[np.minimum(pos, len(self.items) - 1)] == items)
        if not ok.all():
            raise SidkitError(f"item {int(items[~ok][0])} is not in this SID table's item space ({len(self)} items)")
        return pos

    def embeddings(self, emb: ItemEmbeddings) -> ItemEmbeddings:
        """The rows of ``emb`` (and of its views) for the space's items, in space order."""
        return ItemEmbeddings(emb.values[self.items], {k: np.asarray(v)[self.items] for k, v in emb.views.items()})


def empty_eval_set() -> EvalSet:
    nothing = Ragged(np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64))
    return EvalSet(np.zeros(0, dtype=np.int64), nothing, nothing)


def _tail_rows(dataset, rows: np.ndarray, max_len: int) -> np.ndarray:
    """The last ``max_len`` of each user's ``rows`` (sorted)."""
    rows = np.sort(rows)
    users = dataset.interactions.user[rows]
    ends = np.searchsorted(users, users, "right")
    return rows[ends - np.arange(len(rows)) <= max_len]


def training_split(
    dataset,
    target_rows: np.ndarray,
    space: ItemSpace,
    valid: EvalSet | None = None,
    *,
    context_rows: np.ndarray | None = None,
    max_len: int = 20,
) -> SplitData:
    """A generator's training data in ``space``'s local indices.

    Each user's items of ``target_rows`` (restricted to the space) are the sequence; with
    ``context_rows`` the user's last ``max_len`` context items (restricted too) come first,
    as context only (``train_first_target``): a fine-tune on a new block then predicts only
    that block's interactions, from the history before them. ``valid`` is a local eval set.
    """
    inter = dataset.interactions
    mask = space.mask(dataset.n_items)
    targets = np.sort(target_rows[mask[inter.item[target_rows]]])
    rows, first = targets, None
    if context_rows is not None:
        context = context_rows[mask[inter.item[context_rows]]]
        context = context[np.isin(inter.user[context], inter.user[targets])]
        context = _tail_rows(dataset, context, max_len)
        rows = np.sort(np.concatenate([context, targets]))
    seqs, users = user_sequences(dataset, rows)
    if context_rows is not None:
        n_context = np.bincount(inter.user[context], minlength=dataset.n_users)[users]
        first = n_context.astype(np.int64)
    local = Ragged(space.local(seqs.values), seqs.offsets)
    valid = valid if valid is not None else empty_eval_set()
    return SplitData(local, valid, valid, len(space), name="continual", train_users=users, train_first_target=first)


def local_eval_set(examples: EvalSet, space: ItemSpace) -> EvalSet:
    """``examples`` (global item indices, all inside ``space``) in the space's local indices."""
    return EvalSet(
        examples.users,
        Ragged(space.local(examples.histories.values), examples.histories.offsets),
        Ragged(space.local(examples.targets.values), examples.targets.offsets),
    )


def encoder_split(dataset, train_rows: np.ndarray, valid: EvalSet | None = None) -> SplitData:
    """Global-index split for a collaborative encoder: sequences of ``train_rows``; its
    early stopping watches ``valid`` (never test targets), or nothing when it is ``None``."""
    seqs, users = user_sequences(dataset, train_rows)
    valid = valid if valid is not None else empty_eval_set()
    return SplitData(seqs, valid, valid, dataset.n_items, name="continual-encoder", train_users=users)


def period_train_rows(dataset, rows: np.ndarray) -> np.ndarray:
    """The training targets among a period's ``rows``: each user's rows but the last two
    (validation and test targets; :func:`sidkit.data.period_split`)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    users = dataset.interactions.user[rows]
    ends = np.searchsorted(users, users, "right")
    return rows[ends - np.arange(len(rows)) > 2]


def local_split(split: SplitData, space: ItemSpace) -> SplitData:
    """``split``'s training sequences (every item inside ``space``) in the space's local
    indices, for a generator; no evaluation examples."""
    nothing = empty_eval_set()
    train = Ragged(space.local(split.train.values), split.train.offsets)
    return attrs.evolve(split, train=train, valid=nothing, test=nothing, n_items=len(space))
