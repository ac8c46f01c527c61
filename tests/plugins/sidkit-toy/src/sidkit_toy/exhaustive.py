"""Decoder ``toy-exhaustive``: top-k over every item's log-probability, batch by batch."""

from __future__ import annotations

import numpy as np
import torch
from sidkit.errors import SidkitError
from sidkit.types import Rankings

from .configs import ToyExhaustiveConfig


class ToyExhaustiveDecoder:
    """Needs ``generator.item_log_probs(histories, sids) -> [n, n_items]`` (``toy-mlp`` has it)."""

    def __init__(self, config: ToyExhaustiveConfig):
        self.config = config

    @torch.no_grad()
    def rank(self, generator, sids, histories, k, ctx=None) -> Rankings:
        if not callable(getattr(generator, "item_log_probs", None)):
            name = type(generator).__name__
            raise SidkitError(f"decoder toy-exhaustive needs a generator with item_log_probs(); {name} has none")
        n, kk = len(histories), min(k, sids.n_items)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        for start in range(0, n, self.config.batch_size):
            rows = np.arange(start, min(n, start + self.config.batch_size))
            log_probs = torch.as_tensor(generator.item_log_probs(histories.take(rows), sids))
            top = torch.topk(log_probs.float(), kk, dim=1)
            items[rows, :kk] = top.indices.cpu().numpy()
            scores[rows, :kk] = top.values.cpu().numpy()
        return Rankings(items, scores)
