"""Decoder ``beam``: batched beam search over SIDs with a KV cache, constrained to valid
SIDs through a :class:`~sidkit_grid.decoding.prefix_index.PrefixIndex`, or free.

Works with any generator offering the incremental interface of the GRID generators::

    generator.vocab                      # SIDVocab: level token offsets and sizes
    generator.device                     # torch.device of the model
    generator.encode(histories, sids, users=None) -> state   # state.batch = len(histories)
    generator.step(state, tokens, parents) -> logits [B, beams, vocab]

(``state.restart(rows)``, when the state has it, lets free decoding back-fill without
encoding the histories again.)

All histories of a batch and all their beams advance together: one ``step`` call, one
``topk`` and one trie gather per SID level, no Python loop over users or beams.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from sidkit.capabilities import StepwiseGeneration, collision_order
from sidkit.errors import SidkitError
from sidkit.metrics.history_filter import drop_history_items
from sidkit.types import Ragged, Rankings, SIDTable
from tqdm.auto import tqdm

from ..configs.decoders import BeamConfig
from .prefix_index import PrefixIndex

__all__ = ["BeamDecoder", "beam_search", "users_for", "MAX_BEAMS"]

log = logging.getLogger(__name__)
#: beams advanced together at most (histories per batch x beam width): bounds the KV cache.
#: Chosen from `benchmarks/beam_search.py --wide` (sdk_docs/results.md, "Wide beams").
MAX_BEAMS = 8192


@torch.no_grad()
def beam_search(
    generator: Any, state: Any, index: PrefixIndex, beam_width: int, constrained: bool,
    banned: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best ``beam_width`` SIDs per history of ``state``: ``(leaves, scores)`` ``[B, beams]``,
    best first. ``leaves`` are SID ids of ``index`` (-1: an invalid SID under free decoding, or
    an empty beam when fewer candidates exist); ``scores`` are sequence log-probabilities
    (sum over levels of the log-softmax over the whole vocabulary). ``banned``: ``[B, S]``
    sorted leaf ids per history that the last level may not pick
    (:meth:`PrefixIndex.covered_leaves`)."""
    offsets, sizes = generator.vocab.offsets, generator.vocab.codebook_sizes
    b = state.batch
    device = generator.device
    nodes = torch.zeros((b, 1), dtype=torch.long, device=device)
    scores = torch.zeros((b, 1), dtype=torch.float32, device=device)
    tokens = parents = None
    for level, (offset, width) in enumerate(zip(offsets, sizes, strict=True)):
        logits = generator.step(state, tokens, parents).float()
        logp = logits[..., offset : offset + width] - torch.logsumexp(logits, dim=-1, keepdim=True)
        child = index.children(level, nodes)  # [B, beams, width]
        if constrained:
            logp = logp.masked_fill(child < 0, float("-inf"))
        if banned is not None and level == len(sizes) - 1:
            flat = child.reshape(b, -1)
            pos = torch.searchsorted(banned, flat).clamp(max=banned.shape[1] - 1)
            hit = (banned.gather(1, pos) == flat) & (flat >= 0)
            logp = logp.masked_fill(hit.view_as(logp), float("-inf"))
        cand = (scores.unsqueeze(-1) + logp).reshape(b, -1)
        scores, top = cand.topk(min(beam_width, cand.shape[1]), dim=1)
        parents = torch.div(top, width, rounding_mode="floor")
        tokens = top - parents * width + offset
        nodes = child.reshape(b, -1).gather(1, top)
    return nodes.masked_fill(torch.isneginf(scores), -1), scores


def merge_ranked(leaves_a, scores_a, leaves_b, scores_b) -> tuple[torch.Tensor, torch.Tensor]:
    """Union of two ranked SID lists per row, each SID once, best first."""
    leaves = torch.cat([leaves_a, leaves_b], dim=1)
    scores = torch.cat([scores_a, scores_b], dim=1).masked_fill(leaves < 0, float("-inf"))
    by_leaf, perm = leaves.sort(dim=1, stable=True)
    dup = torch.zeros_like(by_leaf, dtype=torch.bool)
    dup[:, 1:] = (by_leaf[:, 1:] == by_leaf[:, :-1]) & (by_leaf[:, 1:] >= 0)
    scores = scores.scatter(1, perm, scores.gather(1, perm).masked_fill(dup, float("-inf")))
    scores, order = scores.sort(dim=1, descending=True, stable=True)
    return leaves.gather(1, order).masked_fill(torch.isneginf(scores), -1), scores


def users_for(histories: Ragged, ctx: Any) -> np.ndarray | None:
    """User indices of ``histories`` for models with user tokens: ``ctx.extras["users"]``,
    else the ``users`` of the split's validation/test set these histories belong to."""
    if ctx is None:
        return None
    users = ctx.extras.get("users")
    if users is not None:
        return np.asarray(users, dtype=np.int64)
    split = ctx.split
    for examples in (getattr(split, "valid", None), getattr(split, "test", None)):
        if examples is not None and examples.histories is histories:
            return examples.users
    return None


class BeamDecoder:
    """Beam search over SIDs; see :class:`~sidkit_grid.configs.BeamConfig` for the options."""

    def __init__(self, config: BeamConfig | None = None):
        self.config = config or BeamConfig()
        self._index_key: tuple | None = None
        self._index: PrefixIndex | None = None
        self._index_sids: SIDTable | None = None
        self._warned = False

    def index(self, sids: SIDTable, device: torch.device, ctx: Any = None) -> PrefixIndex:
        """The prefix index of ``sids`` (built once and reused while the same table is passed)."""
        order = collision_order(None if ctx is None else ctx.tokenizer)
        seed = 0 if ctx is None else int(ctx.seed or 0)
        key = (id(sids), str(device), order, seed)
        if self._index is None or self._index_key != key or self._index_sids is not sids:
            self._index = PrefixIndex(sids, device, collision_order=order, seed=seed)
            self._index_key, self._index_sids = key, sids
        return self._index

    def histories_per_batch(self, width: int) -> int:
        """``batch_size``, lowered so that a batch advances at most :data:`MAX_BEAMS` beams."""
        return max(1, min(self.config.batch_size, MAX_BEAMS // width))

    def beam_width(self, k: int) -> int:
        if self.config.beam_width >= k:
            return self.config.beam_width
        if not self._warned:
            log.warning("decoder beam: beam_width=%d < k=%d; using %d beams", self.config.beam_width, k, k)
            self._warned = True
        return k

    def rank(self, generator: Any, sids: SIDTable, histories: Ragged, k: int, ctx: Any = None) -> Rankings:
        if not isinstance(generator, StepwiseGeneration):
            raise SidkitError(
                "decoder beam needs a generator with the capability stepwise-generation (vocab, encode, "
                f"step, device: the GRID generators tiger and decoder-only); {type(generator).__name__} lacks it"
            )
        generator.vocab.check(sids, f"generator {type(generator).__name__}")
        if ctx is not None and ctx.device and hasattr(generator, "to"):
            generator.to(ctx.device)
        device = generator.device
        index = self.index(sids, device, ctx)
        width = self.beam_width(k)
        users = users_for(histories, ctx) if generator.vocab.user_buckets else None
        n = len(histories)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        bs = self.histories_per_batch(width)
        show = ctx is not None and bool(ctx.progress) and n > bs
        exclude = self.config.exclude_history
        for start in tqdm(range(0, n, bs), desc="beam search", disable=not show, leave=False):
            rows = np.arange(start, min(n, start + bs))
            batch_users = None if users is None else users[rows]
            batch = histories.take(rows)
            banned = index.covered_leaves(batch) if exclude else None
            leaves, best = self._search(generator, sids, index, batch, batch_users, width, k, banned)
            # a SID shared with history items may still list them: expand deeper and drop them
            depth = k + (int(batch.lengths.max(initial=0)) if exclude else 0)
            top, val = (t.cpu().numpy() for t in index.expand(leaves, best, depth))
            items[rows], scores[rows] = drop_history_items(top, batch, k, val) if exclude else (top, val)
        return Rankings(items, scores)

    def _search(self, generator, sids, index, histories, users, width, k, banned=None):
        with torch.autocast(generator.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
            state = generator.encode(histories, sids, users)
            leaves, scores = beam_search(generator, state, index, width, self.config.constrained, banned)
            if self.config.constrained:
                return leaves, scores
            # free decoding: invalid SIDs are dropped; rows left with fewer than k items are
            # back-filled from a constrained search of those rows, merged by score
            short = index.item_counts(leaves).sum(dim=1) < min(k, len(index.items))
            if bool(short.any()):
                rows = torch.nonzero(short)[:, 0]
                if hasattr(state, "restart"):  # reuse the encoded contexts
                    state = state.restart(rows)
                else:
                    sub_users = None if users is None else users[rows.cpu().numpy()]
                    state = generator.encode(histories.take(rows.cpu().numpy()), sids, sub_users)
                more, more_scores = beam_search(
                    generator, state, index, width, True, None if banned is None else banned[rows]
                )
                merged, merged_scores = merge_ranked(leaves[rows], scores[rows], more, more_scores)
                grow = merged.shape[1] - leaves.shape[1]
                leaves = torch.nn.functional.pad(leaves, (0, grow), value=-1)
                scores = torch.nn.functional.pad(scores, (0, grow), value=float("-inf"))
                leaves[rows], scores[rows] = merged, merged_scores
            return leaves, scores
