"""Fixtures of the sidkit-align tests: SID tables whose refreshed codes are a planted
per-level relabelling of the old ones (optionally with some items re-drawn)."""

from __future__ import annotations

import numpy as np
import pytest


def make_planted(n: int = 2000, levels: int = 3, vocab: int = 16, noise: float = 0.0, seed: int = 0):
    """``(old, new, perms, noisy)``: ``old`` random codes ``[n, levels]`` in ``0..vocab-1``;
    ``new[:, l] = perms[l][old[:, l]]`` except on the rows ``noisy`` (a ``noise`` fraction),
    whose new codes are drawn afresh."""
    rng = np.random.default_rng(seed)
    old = rng.integers(0, vocab, (n, levels))
    perms = [rng.permutation(vocab) for _ in range(levels)]
    new = np.column_stack([perms[level][old[:, level]] for level in range(levels)])
    noisy = rng.random(n) < noise
    new[noisy] = rng.integers(0, vocab, (int(noisy.sum()), levels))
    return old, new, perms, noisy


@pytest.fixture
def planted():
    """``planted(n=2000, levels=3, vocab=16, noise=0.0, seed=0)``: see :func:`make_planted`."""
    return make_planted
