"""Token layout and batching shared by the ``tiger`` and ``decoder-only`` generators.

Vocabulary (:class:`SIDVocab`): ``0 = pad``, ``1 = eos``, ``2 = bos``, then ``user_buckets``
hashed user tokens, then the codes of each SID level at their own offset
(``token = code + offsets[l]``). An item becomes its ``L`` tokens; a history becomes the
flattened tokens of its last ``max_len`` items. Everything here is vectorised numpy: no
per-sample Python loops, and the training windows are indices (:class:`sidkit.data.SlidingWindows`,
:class:`sidkit.data.CausalWindowIndex`) whose batches are built on demand, so an epoch over
``N`` interactions never holds ``N * max_len`` history items.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch
from sidkit.data import CausalWindowIndex, SlidingWindows, trim_left_padding
from sidkit.errors import ArtifactError
from sidkit.types import Ragged, SIDTable

__all__ = [
    "PAD",
    "EOS",
    "BOS",
    "SIDVocab",
    "Windows",
    "training_windows",
    "context_tokens",
    "hash_users",
    "IGNORE",
    "CausalWindows",
    "causal_training_windows",
    "causal_tokens",
    "encoder_decoder_window_tokens",
    "item_rank",
    "SampledWindows",
    "sampled_windows",
    "targets_per_sequence",
]

PAD, EOS, BOS = 0, 1, 2
N_SPECIAL = 3
IGNORE = -100
"""Label of a position that is not trained on (``cross_entropy``'s ``ignore_index``)."""


def hash_users(users: np.ndarray, buckets: int) -> np.ndarray:
    """Deterministic multiplicative hash of user indices into ``0..buckets-1``."""
    u = np.asarray(users, dtype=np.uint64)
    return ((u * np.uint64(2654435761)) % np.uint64(2**32) % np.uint64(buckets)).astype(np.int64)


@attrs.frozen
class SIDVocab:
    """Where every token lives; saved with a checkpoint and checked against the SIDs it is used with."""

    codebook_sizes: tuple[int, ...] = attrs.field(converter=lambda s: tuple(int(x) for x in s))
    user_buckets: int = 0

    @property
    def n_levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def offsets(self) -> tuple[int, ...]:
        """First token id of each level."""
        start = N_SPECIAL + self.user_buckets
        return tuple(int(x) for x in start + np.concatenate([[0], np.cumsum(self.codebook_sizes)[:-1]]))

    @property
    def size(self) -> int:
        return N_SPECIAL + self.user_buckets + sum(self.codebook_sizes)

    def item_tokens(self, codes: np.ndarray) -> np.ndarray:
        """``[n_items, L]`` token ids of every item's SID."""
        return np.asarray(codes, dtype=np.int64) + np.asarray(self.offsets, dtype=np.int64)

    def user_tokens(self, users: np.ndarray) -> np.ndarray:
        return N_SPECIAL + hash_users(users, self.user_buckets)

    def check(self, sids: SIDTable, who: str) -> None:
        """Refuse a SID table whose vocabulary differs from the one the model was built for."""
        if tuple(sids.codebook_sizes) != self.codebook_sizes:
            raise ArtifactError(
                f"{who} was trained on SIDs with codebook sizes {list(self.codebook_sizes)}, "
                f"got a SID table with {list(sids.codebook_sizes)}; retrain it on these SIDs"
            )

    def to_json(self) -> dict[str, Any]:
        return {"codebook_sizes": list(self.codebook_sizes), "user_buckets": self.user_buckets}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SIDVocab:
        return cls(d["codebook_sizes"], int(d["user_buckets"]))


@attrs.frozen(eq=False)
class Windows:
    """Sliding-window samples: sample ``j`` predicts ``targets[j]`` from ``inputs[j]`` (at most
    ``max_len`` items, oldest first) of user ``users[j]``. Built lazily: a batch's rows are
    gathered from the training sequences when asked for (:meth:`batch`); ``inputs``,
    ``targets`` and ``users`` materialise every sample (small data, tests)."""

    index: SlidingWindows
    sequence_users: np.ndarray  # user of each training sequence

    def __len__(self) -> int:
        return len(self.index)

    @property
    def lengths(self) -> np.ndarray:
        """History items per sample (already cut to ``max_len``), computed on each access."""
        return self.index.lengths()

    def batch(self, rows: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(history items [n, max_len] left-padded with -1, target items [n], users [n])``."""
        seq, end = self.index.locate(rows)
        return self.index.padded(rows, max_len), self.index.train.values[end], self.sequence_users[seq]

    @property
    def inputs(self) -> Ragged:
        return self.index.inputs(np.arange(len(self)))

    @property
    def targets(self) -> np.ndarray:
        return self.index.targets(np.arange(len(self)))

    @property
    def users(self) -> np.ndarray:
        return np.repeat(self.sequence_users, self.index.counts)


def training_windows(
    train: Ragged, max_len: int, users: np.ndarray | None = None, first_target: np.ndarray | None = None
) -> Windows:
    """GRID's sliding-window augmentation (:func:`sidkit.data.sliding_windows`: every prefix
    of every training sequence predicts the item after it), with each sample's user.
    ``first_target`` (per sequence) keeps only targets from that position on."""
    index = SlidingWindows.build(train, max_len, first_target=first_target)
    users = np.arange(len(train)) if users is None else np.asarray(users, dtype=np.int64)
    return Windows(index, users)


def targets_per_sequence(train: Ragged, first_target: np.ndarray | None = None) -> np.ndarray:
    """Sliding-window samples of each training sequence (they come sequence by sequence)."""
    first = np.ones(len(train), dtype=np.int64) if first_target is None else np.maximum(first_target, 1)
    return np.maximum(train.lengths - first, 0)


@attrs.frozen(eq=False)
class SampledWindows:
    """``per_sequence`` sliding-window samples of every training sequence, drawn afresh each
    time a batch is built (``windows = "sample"``): an epoch sees each sequence that many
    times, at random prefixes. The draws use torch's global RNG, which the training loop
    seeds and checkpoints, so a resumed run draws the same prefixes."""

    windows: Windows
    starts: np.ndarray  # first sample of each sequence in ``windows``
    counts: np.ndarray  # its number of samples (> 0)
    per_sequence: int

    def __len__(self) -> int:
        return len(self.starts) * self.per_sequence

    @property
    def lengths(self) -> None:
        """Unknown before the draw: no length grouping."""
        return None

    def draw(self, rows: np.ndarray) -> np.ndarray:
        """Sample indices into ``windows`` for example indices ``rows``."""
        seq = np.asarray(rows) // self.per_sequence
        u = torch.rand(len(seq), dtype=torch.float64).numpy()
        return self.starts[seq] + np.minimum((u * self.counts[seq]).astype(np.int64), self.counts[seq] - 1)


def sampled_windows(
    train: Ragged,
    max_len: int,
    per_sequence: int,
    users: np.ndarray | None = None,
    first_target: np.ndarray | None = None,
) -> SampledWindows:
    """:class:`SampledWindows` over the sliding windows of ``train``."""
    windows = training_windows(train, max_len, users, first_target)
    counts, starts = windows.index.counts, windows.index.cum[:-1]
    keep = counts > 0
    return SampledWindows(windows, starts[keep], counts[keep], per_sequence)


def context_tokens(
    vocab: SIDVocab,
    item_tokens: np.ndarray,
    items: np.ndarray,
    users: np.ndarray | None,
    *,
    eos: bool,
    bos: bool = False,
    trim: bool = True,
) -> np.ndarray:
    """Left-padded model context ``[user token] [bos] + flattened SID tokens of items [+ eos]``.

    ``items`` is ``[n, M]`` with -1 for padding (left). With ``trim``, columns that are
    padding in every row are dropped, so a batch of short histories costs only its longest row.
    """
    n, m = items.shape
    levels = item_tokens.shape[1]
    hist = np.where(items[:, :, None] >= 0, item_tokens[np.maximum(items, 0)], PAD).reshape(n, m * levels)
    user = 1 if vocab.user_buckets else 0
    lead = user + int(bos)
    out = np.full((n, lead + m * levels + int(eos)), PAD, dtype=np.int64)
    out[:, lead : lead + m * levels] = hist
    if eos:
        out[:, -1] = EOS
    first_real = (m - (items >= 0).sum(axis=1)) * levels  # where each row's lead tokens go
    if user:
        if users is None:
            raise ValueError("this model uses user tokens: pass the user index of every history")
        out[np.arange(n), first_real] = vocab.user_tokens(users)
    if bos:
        out[np.arange(n), first_real + user] = BOS
    return trim_left_padding(out, pad=PAD) if trim else out


@attrs.frozen(eq=False)
class CausalWindows:
    """All-position samples (:func:`sidkit.data.causal_windows`), built lazily: window ``j``
    holds ``items[j]`` (``[max_len + 1]``, left-padded with -1) of user ``users[j]`` and
    trains on the items where ``is_target[j]``; :meth:`rows` builds those of a batch,
    ``items``/``is_target``/``users`` materialise every window (small data, tests)."""

    index: CausalWindowIndex
    sequence_users: np.ndarray  # user of each training sequence

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(items, is_target, users)`` of windows ``rows``."""
        seq, items, is_target = self.index.windows(rows)
        return items, is_target, self.sequence_users[seq]

    @property
    def lengths(self) -> np.ndarray:
        """Items per window (what a batch is padded to)."""
        return self.index.lengths()

    @property
    def n_targets(self) -> int:
        return self.index.n_targets()

    @property
    def items(self) -> np.ndarray:
        return self.rows(np.arange(len(self)))[0]

    @property
    def is_target(self) -> np.ndarray:
        return self.rows(np.arange(len(self)))[1]

    @property
    def users(self) -> np.ndarray:
        return self.rows(np.arange(len(self)))[2]


def causal_training_windows(
    train: Ragged, max_len: int, users: np.ndarray | None = None, first_target: np.ndarray | None = None
) -> CausalWindows:
    """Windows of ``max_len + 1`` items overlapping by one, so that every training target of
    :func:`training_windows` is trained on exactly once, in one causal pass per window."""
    all_users = np.arange(len(train)) if users is None else np.asarray(users, dtype=np.int64)
    return CausalWindows(CausalWindowIndex.build(train, max_len, first_target), all_users)


def causal_tokens(
    vocab: SIDVocab, item_tokens: np.ndarray, items: np.ndarray, is_target: np.ndarray, users: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)`` of all-position windows: the sequence ``[user] BOS tokens(items)``
    without its last token, and at each position the next token where it belongs to a target
    item, else ``IGNORE``. Rows are left-padded and right-aligned (every row ends with its
    last token), so a row's positions predicting item ``c`` are those a sliding-window sample
    of the same history would use."""
    full = context_tokens(vocab, item_tokens, items, users, eos=False, bos=True, trim=False)
    levels = item_tokens.shape[1]
    target = np.zeros(full.shape, dtype=bool)
    target[:, full.shape[1] - items.shape[1] * levels :] = np.repeat(is_target, levels, axis=1)
    full, target = trim_left_padding(full, target, pad=PAD)
    return full[:, :-1], np.where(target[:, 1:], full[:, 1:], IGNORE)


def encoder_decoder_window_tokens(
    vocab: SIDVocab, item_tokens: np.ndarray, items: np.ndarray, is_target: np.ndarray, users: np.ndarray | None
) -> dict[str, np.ndarray]:
    """All-position windows for an encoder–decoder whose encoder is causal over items
    (``tiger`` with ``windows = "all"``). ``items`` is ``[n, W]`` (left-padded with -1).

    - ``context``: ``[user] BOS tokens(items[:, :-1])``, right-aligned (the encoder input of
      the whole window, read once);
    - ``decoder``/``labels``: one block of ``L`` tokens per window column that holds a target
      somewhere in the batch, ``BOS c_1 .. c_{L-1}`` and ``c_1 .. c_L`` (``IGNORE`` where that
      row's item is not a target);
    - ``visible``: per decoder position, the smallest item rank from the end
      (:func:`item_rank`) of the context tokens it may read: the target in column ``j`` reads
      the items before it and the lead tokens, nothing after.
    """
    levels = item_tokens.shape[1]
    width = items.shape[1]
    context = context_tokens(vocab, item_tokens, items[:, :-1], users, eos=False, bos=True)
    cols = np.flatnonzero(is_target.any(axis=0))
    tokens = item_tokens[np.maximum(items[:, cols], 0)]  # [n, J, L]
    decoder = np.concatenate([np.full(tokens.shape[:2] + (1,), BOS, dtype=np.int64), tokens[:, :, :-1]], axis=2)
    labels = np.where(is_target[:, cols, None], tokens, IGNORE)
    visible = np.repeat(width - 1 - cols, levels).astype(np.int64)
    n = len(items)
    return {
        "context": context,
        "decoder": decoder.reshape(n, -1),
        "labels": labels.reshape(n, -1),
        "visible": visible,
    }


def item_rank(width: int, levels: int) -> np.ndarray:
    """Rank from the end of the item each position of a right-aligned context of ``width``
    tokens belongs to: 0 for the last item's ``levels`` tokens, 1 for the one before, ...;
    lead tokens (user, BOS) rank above every item. Invariant to left padding and trimming."""
    return (width - 1 - np.arange(width)) // levels
