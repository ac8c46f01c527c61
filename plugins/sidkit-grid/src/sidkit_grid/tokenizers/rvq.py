"""Tokenizer ``rvq``: residual vector quantisation, codebooks trained level by level with Adam."""

from __future__ import annotations

import torch

from ..configs.tokenizers import RVQConfig
from .common import kmeans_plus_plus, nearest, reseed_codes
from .kmeans import fill_empty_clusters, sample_batch
from .residual import ResidualCodebookTokenizer

__all__ = ["RVQTokenizer"]


class RVQTokenizer(ResidualCodebookTokenizer):
    """Each level's codebook starts from k-means++ samples of its residuals and is trained
    with Adam to minimise ``‖sg(r) − e_q(r)‖²`` (``q`` = nearest code; the residuals are
    fixed inputs, so only the selected codes receive gradient). Codes unused for
    ``reseed_every`` steps move to far residuals; empty codes are re-seeded at the end."""

    name = "rvq"

    def __init__(self, config: RVQConfig | None = None):
        super().__init__(config or RVQConfig())

    def fit_level(self, r: torch.Tensor, level: int, gen: torch.Generator, bar) -> torch.Tensor:
        cfg = self.config
        book = torch.nn.Parameter(kmeans_plus_plus(r, cfg.codebook_size, gen))
        opt = torch.optim.Adam([book], lr=cfg.lr)
        window = torch.zeros(cfg.codebook_size, dtype=torch.long, device=r.device)
        for step in range(1, cfg.steps_per_level + 1):
            rows = sample_batch(r.shape[0], cfg.batch_size, gen)
            rb = r if rows is None else r[rows.to(r.device)]
            idx, dist = nearest(rb, book.detach())
            loss = (rb - book.index_select(0, idx)).pow(2).sum(1).mean()  # deterministic backward
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            window += torch.bincount(idx, minlength=cfg.codebook_size)
            if cfg.reseed_every and step % cfg.reseed_every == 0:
                with torch.no_grad():
                    reseed_codes(book.data, rb, idx, dist, window == 0)
                window.zero_()
            bar.update(1)
        return fill_empty_clusters(r, book.detach().clone())
