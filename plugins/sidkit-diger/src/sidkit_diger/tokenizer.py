"""Tokenizer ``diger``: the RQ-VAE pretraining of DIGER (``rqvae`` with a fixed conflict level)."""

from __future__ import annotations

from sidkit_grid.api import RQVAETokenizer

from .config import DigerTokenizerConfig

__all__ = ["DigerTokenizer"]


class DigerTokenizer(RQVAETokenizer):
    """``rqvae`` pretraining with DIGER's layout: 3 × 256 codes and a conflict level of a
    fixed 256 codes (``dedup_size``), so the SIDs the ``diger`` generator re-assigns while
    it trains keep its vocabulary. The differentiable assignment is added by the generator,
    which copies this tokenizer's ``model`` (it does the same for ``rqvae`` and ``letter``)."""

    name = "diger"

    def __init__(self, config: DigerTokenizerConfig | None = None):
        super().__init__(config or DigerTokenizerConfig())
