"""Encoder ``toy-text``: TF-IDF over catalog text, then a seeded Gaussian random projection."""

from __future__ import annotations

import re

import numpy as np
from sidkit.errors import SidkitError
from sidkit.types import ItemEmbeddings

from .configs import ToyTextConfig

_TOKEN = re.compile(r"[0-9a-z]+")


def tokens(fields) -> list[str]:
    """Lower-cased alphanumeric tokens of every text field of one item (lists flattened)."""
    parts = []
    for value in fields.values():
        parts.extend(map(str, value) if isinstance(value, (list, tuple)) else [str(value)])
    return _TOKEN.findall(" ".join(parts).lower())


class ToyTextEncoder:
    """Sublinear TF × smoothed IDF, rows L2-normalised, projected to ``dim`` and normalised again."""

    def __init__(self, config: ToyTextConfig):
        self.config = config

    def encode(self, ctx) -> ItemEmbeddings:
        if ctx.dataset is None:
            raise SidkitError("encoder toy-text needs ctx.dataset (its catalog holds the item text)")
        docs = [tokens(f) for f in ctx.dataset.catalog.fields]
        vocab = {t: i for i, t in enumerate(sorted({t for doc in docs for t in doc}))}
        rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
        cols = np.array([vocab[t] for doc in docs for t in doc], dtype=np.int64)
        pairs, counts = np.unique(np.stack([rows, cols]), axis=1, return_counts=True)
        rows, cols = pairs
        df = np.bincount(cols, minlength=len(vocab))
        keep = df[cols] >= self.config.min_df
        rows, cols, counts = rows[keep], cols[keep], counts[keep]
        idf = np.log((1 + len(docs)) / (1 + df)) + 1.0
        w = (1.0 + np.log(counts)) * idf[cols]
        w /= np.sqrt(np.bincount(rows, weights=w**2, minlength=len(docs)))[rows]
        rng = np.random.default_rng(self.config.seed + ctx.seed)
        proj = rng.standard_normal((len(vocab), self.config.dim)) / np.sqrt(self.config.dim)
        out = np.zeros((len(docs), self.config.dim))
        np.add.at(out, rows, w[:, None] * proj[cols])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return ItemEmbeddings(out / np.where(norms > 0, norms, 1.0))
