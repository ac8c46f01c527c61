"""Tokenizer ``dact``: ``letter`` with DACT's defaults, whose network also carries CDIM
(``model.cdim``), so the drift detector is saved, loaded and carried to the next period
with the tokenizer's state."""

from __future__ import annotations

from typing import Any

from sidkit.types import ItemEmbeddings, SIDTable
from sidkit_grid.api import deduplicate
from sidkit_letter.api import LetterRQVAE, LetterTokenizer

from .cdim import CDIM
from .configs import DactConfig

__all__ = ["DactTokenizer"]


class DactTokenizer(LetterTokenizer):
    """LETTER's RQ-VAE (``fit`` trains it exactly as ``letter`` does; CDIM gets no gradient
    there) plus the untrained-at-fit CDIM that the ``dact`` sid-updater trains."""

    name = "dact"

    def __init__(self, config: DactConfig | None = None):
        super().__init__(config or DactConfig())

    def build_model(self, in_dim: int) -> LetterRQVAE:
        cfg = self.config
        model = super().build_model(in_dim)
        model.cdim = CDIM(cfg.latent_dim, cfg.cdim_slots, cfg.cdim_hidden, cfg.cdim_tau)
        return model

    def assign(self, embeddings: ItemEmbeddings) -> SIDTable:
        """``letter``'s codes (collision rounds, if any) under ``dedup`` *and* ``dedup_size``
        (``letter``'s own ``assign`` leaves ``dedup_size`` out), so the de-dup level keeps
        its fixed vocabulary from period to period."""
        cfg = self.config
        return deduplicate(self.resolved_codes(embeddings), cfg.codebook_size, cfg.dedup, cfg.dedup_size)

    def _structure(self) -> dict[str, Any]:
        cfg = self.config
        return {**super()._structure(), "cdim_slots": cfg.cdim_slots, "cdim_hidden": cfg.cdim_hidden}
