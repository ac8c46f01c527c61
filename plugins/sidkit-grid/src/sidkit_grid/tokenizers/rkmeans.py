"""Tokenizer ``rkmeans``: residual mini-batch k-means (GRID's default)."""

from __future__ import annotations

import torch

from ..configs.tokenizers import RKMeansConfig
from .kmeans import minibatch_kmeans
from .residual import ResidualCodebookTokenizer

__all__ = ["RKMeansTokenizer"]


class RKMeansTokenizer(ResidualCodebookTokenizer):
    """Level by level: mini-batch k-means (k-means++ init, empty clusters re-seeded) on
    the L2-normalised residuals of the levels before."""

    name = "rkmeans"

    def __init__(self, config: RKMeansConfig | None = None):
        super().__init__(config or RKMeansConfig())

    def fit_level(self, r: torch.Tensor, level: int, gen: torch.Generator, bar) -> torch.Tensor:
        cfg = self.config
        return minibatch_kmeans(
            r,
            cfg.codebook_size,
            steps=cfg.steps_per_level,
            batch_size=cfg.batch_size,
            gen=gen,
            reseed_every=cfg.reseed_every,
            bar=bar,
        )
