"""Decoder ``item-scores``: exact full-catalog top-k over a generator's ``score_items``."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from sidkit.capabilities import ItemScoring
from sidkit.errors import SidkitError
from sidkit.types import Ragged, Rankings, SIDTable

from ..configs.decoders import ItemScoresConfig

__all__ = ["ItemScoresDecoder", "top_k"]

NAME = "item-scores"


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(items, values)`` of the best ``min(k, n_items)`` columns per row, best first; equal
    scores go to the lower item index, also at the cut-off (so the result never depends on
    how ``torch.topk`` breaks ties)."""
    n, m = scores.shape
    kk = min(k, m)
    if kk == 0 or n == 0:
        return torch.zeros((n, kk), dtype=torch.long, device=scores.device), scores[:, :kk]
    kth = torch.topk(scores, kk, dim=1).values[:, -1:]
    above = scores > kth
    tied = scores == kth
    room = kk - above.sum(1, keepdim=True)  # slots left for the tied items, smallest indices first
    chosen = above | (tied & (tied.cumsum(1) <= room))
    items = chosen.nonzero()[:, 1].view(n, kk)  # ascending item index within each row
    values = scores.gather(1, items)
    order = torch.argsort(values, dim=1, descending=True, stable=True)
    return items.gather(1, order), values.gather(1, order)


def _wants_sids(score_items: Any) -> bool:
    """Whether ``score_items`` has a ``sids`` parameter (the template's generators require it)."""
    try:
        return "sids" in inspect.signature(score_items).parameters
    except (TypeError, ValueError):
        return False


class ItemScoresDecoder:
    """Calls ``generator.score_items(histories)`` (``[n, n_items]`` scores, a torch tensor or
    an array; generators whose ``score_items`` takes ``sids`` get the SID table too) on
    ``batch_size`` histories at a time and keeps the top ``k`` items of every row."""

    def __init__(self, config: ItemScoresConfig | None = None):
        self.config = config or ItemScoresConfig()

    def rank(self, generator: Any, sids: SIDTable | None, histories: Ragged, k: int, ctx: Any = None) -> Rankings:
        if not isinstance(generator, ItemScoring):
            raise SidkitError(
                f"decoder {NAME} needs a generator with score_items(histories) -> [n, n_items] scores "
                f"(e.g. generator sasrec); {type(generator).__name__} has no score_items. SID generators "
                "such as tiger or decoder-only rank with decoder beam"
            )
        if k < 1:
            raise SidkitError(f"decoder {NAME}: k must be >= 1, got {k}")
        score_items = generator.score_items
        pass_sids = _wants_sids(score_items)
        n = len(histories)
        items = np.full((n, k), -1, dtype=np.int64)
        values = np.full((n, k), -np.inf, dtype=np.float32)
        for start in range(0, n, self.config.batch_size):
            rows = np.arange(start, min(n, start + self.config.batch_size))
            batch = histories.take(rows)
            scores = score_items(batch, sids) if pass_sids else score_items(batch)
            scores = torch.as_tensor(scores).float()
            expected_width = sids.n_items if sids is not None else (scores.shape[1] if scores.ndim == 2 else None)
            if scores.ndim != 2 or scores.shape != (len(rows), expected_width):
                raise SidkitError(
                    f"decoder {NAME}: {type(generator).__name__}.score_items returned shape {tuple(scores.shape)} "
                    f"for {len(rows)} histories, expected ({len(rows)}, {expected_width}) (one score per item)"
                )
            if torch.isnan(scores).any():
                raise SidkitError(f"decoder {NAME}: {type(generator).__name__}.score_items returned NaN scores")
            if self.config.exclude_history and len(batch.values):
                row_of = torch.from_numpy(np.repeat(np.arange(len(rows)), batch.lengths)).to(scores.device)
                scores = scores.clone()
                scores[row_of, torch.from_numpy(batch.values).to(scores.device)] = -torch.inf
            top, val = top_k(scores, k)
            top[torch.isneginf(val)] = -1
            items[rows, : top.shape[1]] = top.cpu().numpy()
            values[rows, : top.shape[1]] = val.cpu().numpy()
        return Rankings(items, values)
