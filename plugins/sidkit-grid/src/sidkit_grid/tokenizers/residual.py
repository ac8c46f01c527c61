"""Residual quantisers with one codebook per level on (optionally L2-normalised) residuals:
the shared machinery of ``rkmeans`` and ``rvq``, which differ only in how one level's
codebook is trained (:meth:`ResidualCodebookTokenizer.fit_level`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sidkit.training import make_generator
from sidkit.types import ItemEmbeddings

from .base import GridTokenizer
from .common import ctx_device, nearest, progress_bar, run_seed

__all__ = ["ResidualCodebookTokenizer", "quantize_level", "normalize_rows_"]

ROWS = 65_536


@torch.no_grad()
def normalize_rows_(r: torch.Tensor, rows: int = ROWS) -> torch.Tensor:
    """L2-normalise every row of ``r`` in place, ``rows`` at a time (zero rows stay zero)."""
    for s in range(0, r.shape[0], rows):
        part = r[s : s + rows]
        part.copy_(F.normalize(part, dim=1))
    return r


@torch.no_grad()
def quantize_level(
    r: torch.Tensor, codebook: torch.Tensor, normalize: bool, rows: int = ROWS
) -> tuple[torch.Tensor, torch.Tensor]:
    """One level: (normalise) → nearest code → subtract. Returns the codes and the next
    residual; works through ``rows`` rows at a time and overwrites ``r``."""
    codes = torch.empty(r.shape[0], dtype=torch.long, device=r.device)
    for s in range(0, r.shape[0], rows):
        part = r[s : s + rows]
        if normalize:
            normalize_rows_(part)
        codes[s : s + rows], _ = nearest(part, codebook)
        part -= codebook[codes[s : s + rows]]
    return codes, r


class ResidualCodebookTokenizer(GridTokenizer):
    """Codebooks ``[L, W, d]``; level ``l`` quantises the residual left by levels ``< l``,
    L2-normalised first when ``normalize_residuals`` (the input counts as level 0's residual)."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.codebooks: torch.Tensor | None = None  # [L, W, d]

    def fit_level(self, r: torch.Tensor, level: int, gen: torch.Generator, bar) -> torch.Tensor:
        """The ``[W, d]`` codebook of one level, trained on the residuals ``r`` (already normalised)."""
        raise NotImplementedError

    def fit(self, embeddings: ItemEmbeddings, ctx: Any = None) -> None:
        cfg = self.config
        device = ctx_device(ctx)
        gen = make_generator(run_seed(cfg.seed, ctx))
        r = torch.tensor(embeddings.values, dtype=torch.float32, device=device)
        books = []
        with progress_bar(cfg.levels * cfg.steps_per_level, ctx, self.name) as bar:
            for level in range(cfg.levels):
                if cfg.normalize_residuals:
                    normalize_rows_(r)
                book = self.fit_level(r, level, gen, bar)
                if level < cfg.levels - 1:
                    quantize_level(r, book, normalize=False)
                books.append(book)
        self.codebooks = torch.stack(books)
        self.device, self.dim = device, embeddings.dim

    def raw_codes(self, x: torch.Tensor) -> torch.Tensor:
        r = x.to(torch.float32, copy=True)
        codes = [quantize_level(r, book, self.config.normalize_residuals)[0] for book in self.codebooks]
        return torch.stack(codes, dim=1)

    def _structure(self) -> dict[str, Any]:
        return {**super()._structure(), "normalize_residuals": self.config.normalize_residuals}

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"codebooks": self.codebooks.cpu().numpy()}, {}

    def state_shapes(self, meta):
        return {"codebooks": (meta["levels"], meta["codebook_size"], meta["dim"])}

    def set_state(self, arrays, meta) -> None:
        self.codebooks = torch.from_numpy(arrays["codebooks"]).to(torch.float32)
