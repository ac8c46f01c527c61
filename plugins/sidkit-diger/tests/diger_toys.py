"""Tiny tokenizers and generator configs shared by the sidkit-diger tests (a module of its
own: ``conftest`` names clash when several plugins' tests run in one session)."""

from __future__ import annotations

import numpy as np
from sidkit.context import Context
from sidkit.training.config import ParamGroupConfig
from sidkit.types import ItemEmbeddings
from sidkit_diger.config import DigerConfig, DigerOptimConfig, DigerTokenizerConfig, DigerTrainConfig
from sidkit_diger.tokenizer import DigerTokenizer


def tiny_tokenizer(n_items: int = 30, dim: int = 16, seed: int = 0, **kw) -> tuple[DigerTokenizer, ItemEmbeddings]:
    """A fitted 2 × 8 ``diger`` tokenizer (conflict level of 8) on random item embeddings."""
    emb = ItemEmbeddings(np.random.default_rng(seed).normal(size=(n_items, dim)).astype(np.float32))
    cfg = {"levels": 2, "codebook_size": 8, "dedup_size": 8, "hidden_dims": (32,), "latent_dim": 8,
           "steps": 150, "batch_size": n_items, "lr": 0.01, **kw}  # fmt: skip
    tok = DigerTokenizer(DigerTokenizerConfig(**cfg))
    tok.fit(emb, Context(progress=False))
    return tok, emb


def tiny_config(*, epochs: int = 2, lr: float = 5e-3, tokenizer_lr: float = 1e-3, train: dict | None = None, **kw) -> DigerConfig:
    """A 1 + 1-layer T5 over SIDs that trains in about a second on one thread."""
    optim = DigerOptimConfig(lr=lr, groups={"tokenizer.": ParamGroupConfig(lr=tokenizer_lr)})
    train_cfg = DigerTrainConfig(**{"epochs": epochs, "batch_size": 64, "optim": optim, "progress": False, **(train or {})})
    common = {"d_model": 32, "d_ff": 64, "num_heads": 2, "d_kv": 16, "encoder_layers": 1, "decoder_layers": 1,
              "dropout": 0.0, "max_len": 5, "train": train_cfg, **kw}  # fmt: skip
    return DigerConfig(**common)


def plant_dead_codes(tok: DigerTokenizer, emb: ItemEmbeddings, live: int = 2, far: float = 2.0, seed: int = 0) -> None:
    """Collapse ``tok``'s codebooks in place, as early deterministic assignment leaves them: at
    every level ``live`` codes are the ``live``-means of the level's residuals and the others
    sit on a sphere of ``far`` × the residuals' radius around their mean, nearest to no item."""
    import torch

    g = torch.Generator().manual_seed(seed)
    model = tok.model
    with torch.no_grad():
        r = model.encoder(tok.transform(torch.from_numpy(np.asarray(tok.input_matrix(emb), dtype=np.float32))))
        for level in range(model.codebooks.shape[0]):
            centers = r[torch.randperm(len(r), generator=g)[:live]].clone()
            for _ in range(20):  # Lloyd's iterations
                nearest = torch.cdist(r, centers).argmin(1)
                centers = torch.stack(
                    [r[nearest == j].mean(0) if (nearest == j).any() else centers[j] for j in range(live)]
                )
            mean = r.mean(0)
            radius = (r - mean).norm(dim=1).max()
            k, d = model.codebooks.shape[1:]
            u = torch.randn(k - live, d, generator=g)
            model.codebooks[level, :live] = centers
            model.codebooks[level, live:] = mean + far * radius * u / u.norm(dim=1, keepdim=True)
            r = r - model.codebooks[level][torch.cdist(r, model.codebooks[level]).argmin(1)]
