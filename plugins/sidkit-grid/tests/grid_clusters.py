"""Planted clusters and clustering scores shared by the sidkit-grid tests."""

from __future__ import annotations

import numpy as np
from sidkit.types import ItemEmbeddings


def blobs(n_centres=16, per=50, dim=32, spread=0.3, scale=10.0, seed=0):
    """Well-separated Gaussian blobs: ``(ItemEmbeddings, labels)``."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_centres, dim))
    centres *= scale / np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_centres), per)
    x = centres[labels] + spread * rng.standard_normal((len(labels), dim))
    return ItemEmbeddings(x), labels


def hierarchical_blobs(n_super=4, n_sub=4, per=40, dim=32, seed=0):
    """``x = S[a] + s[b] + noise``: super-cluster ``a`` far apart, sub-cluster offsets ``b``
    smaller and shared by every super-cluster. Returns ``(ItemEmbeddings, a, b)``."""
    rng = np.random.default_rng(seed)

    def units(k, norm):
        v = rng.standard_normal((k, dim))
        return norm * v / np.linalg.norm(v, axis=1, keepdims=True)

    sup, sub = units(n_super, 10.0), units(n_sub, 2.5)
    a = np.repeat(np.arange(n_super), n_sub * per)
    b = np.tile(np.repeat(np.arange(n_sub), per), n_super)
    x = sup[a] + sub[b] + 0.1 * rng.standard_normal((len(a), dim))
    return ItemEmbeddings(x), a, b


def purity(pred, truth) -> float:
    """Fraction of points whose predicted cluster's majority label is their label."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    hits = 0
    for c in np.unique(pred):
        hits += np.bincount(truth[pred == c]).max()
    return hits / len(pred)


def adjusted_rand(pred, truth) -> float:
    """Adjusted Rand index (Hubert & Arabie)."""
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(truth, return_inverse=True)
    table = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)

    def comb2(v):
        v = np.asarray(v, dtype=np.float64)
        return (v * (v - 1) / 2).sum()

    index = comb2(table)
    a, b, total = comb2(table.sum(1)), comb2(table.sum(0)), comb2([len(p)])
    expected = a * b / total
    return float((index - expected) / ((a + b) / 2 - expected))
