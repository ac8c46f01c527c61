"""Fixtures of the sidkit-dact tests: one torch thread, planted collaborative drift and a
small fitted ``dact`` tokenizer. (Helpers are fixtures, not imports: the repository's pytest
runs in importlib mode, where test folders are not importable.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sidkit.context import Context
from sidkit.types import ItemEmbeddings


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ctx() -> Context:
    return Context(seed=0, progress=False)


def planted_drift(n_clusters=40, per=12, content_dim=32, cf_dim=16, moved=0.2, spread=0.5, seed=0):
    """Two collaborative matrices over the same items: ``before[i] = G[a_i] + ε_i`` and
    ``after[i] = G[b_i] + ε_i`` with ``b_i = a_i`` except for the ``moved`` share of items,
    whose ``b_i`` is another cluster. Content ``x_i = C[a_i] + noise`` never changes.
    Returns ``(before, after, moved mask)`` as :class:`ItemEmbeddings` with the content as
    ``values`` and the collaborative matrix as ``views["collaborative"]``."""
    rng = np.random.default_rng(seed)
    n = n_clusters * per
    a = np.repeat(np.arange(n_clusters), per)
    centres = rng.standard_normal((n_clusters, content_dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cf = rng.standard_normal((n_clusters, cf_dim))
    cf /= np.linalg.norm(cf, axis=1, keepdims=True)
    x = (centres[a] + spread * rng.standard_normal((n, content_dim)) / np.sqrt(content_dim)).astype(np.float32)
    eps = spread * rng.standard_normal((n, cf_dim)) / np.sqrt(cf_dim)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, int(moved * n), replace=False)] = True
    b = a.copy()
    b[mask] = (a[mask] + rng.integers(1, n_clusters, int(mask.sum()))) % n_clusters
    before = ItemEmbeddings(x, views={"collaborative": (cf[a] + eps).astype(np.float32)})
    after = ItemEmbeddings(x, views={"collaborative": (cf[b] + eps).astype(np.float32)})
    return before, after, mask


def small_config(**kw):
    from sidkit_dact.configs import DactConfig

    base = {
        "hidden_dims": (64,), "latent_dim": 16, "levels": 2, "codebook_size": 32, "cf_weight": 5.0,
        "cf_temperature": 0.1, "steps": 1500, "batch_size": 256, "lr": 3e-3, "input": "values", "dedup_size": 64,
    }
    return DactConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def planted():
    """:func:`planted_drift`."""
    return planted_drift


@pytest.fixture(scope="session")
def dact_config():
    """:func:`small_config`."""
    return small_config


@pytest.fixture(scope="session")
def fitted_planted():
    """A ``dact`` tokenizer fitted on the planted data's first collaborative matrix, with
    the data: ``(tokenizer, before, after, moved)`` (copy the tokenizer before changing it)."""
    from sidkit_dact.tokenizer import DactTokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    before, after, moved = planted_drift()
    tok = DactTokenizer(small_config())
    tok.fit(before, Context(seed=0, progress=False))
    torch.set_num_threads(threads)
    return tok, before, after, moved
