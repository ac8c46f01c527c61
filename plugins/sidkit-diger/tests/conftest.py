"""Fixtures of the sidkit-diger tests: one torch thread, a pretrained tiny ``diger``
tokenizer on planted item embeddings, and tiny generator configs."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.context import Context
from sidkit.testing import successor_split
from sidkit.training.config import ParamGroupConfig
from sidkit.types import ItemEmbeddings
from sidkit_diger.config import DigerConfig, DigerOptimConfig, DigerTokenizerConfig, DigerTrainConfig
from sidkit_diger.tokenizer import DigerTokenizer


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test on one torch thread (tiny models; bit-for-bit reproducible)."""
    yield


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


@pytest.fixture
def toy():
    """``(split, tokenizer, embeddings)``: successor walks over 30 items and a fitted tokenizer."""
    tok, emb = tiny_tokenizer()
    return successor_split(n_items=30), tok, emb
