"""Fixtures of the sidkit-intrr tests: one torch thread, tiny IntRR generators, toy SID
tables and histories, and grid's ``beam`` decoder built through the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sidkit.registry import get_registry
from sidkit.types import Ragged, SIDTable
from sidkit_intrr.config import IntRRConfig, IntRROptimConfig, IntRRTrainConfig
from sidkit_intrr.generator import IntRRGenerator

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the DDP script's data builder, shared with the subprocess
    sys.path.insert(0, str(HERE))


def tiny_config(*, train: dict | None = None, **kw) -> IntRRConfig:
    """An IntRR config that trains in about a second on one CPU thread. ``aln_weight`` is 1:
    items whose item-side argmax paths coincide get the same input vector, and on a 20-item
    toy with 40 epochs the default 0.1 left some of them merged on one seed in three."""
    train = dict(train or {})
    lr = train.pop("lr", 1e-2)
    train_cfg = IntRRTrainConfig(
        **{"epochs": 40, "batch_size": 32, "optim": IntRROptimConfig(lr=lr), "progress": False, **train}
    )
    common = {
        "d_model": 32, "num_layers": 2, "num_heads": 2, "d_ff": 64, "dropout": 0.0,
        "item_dim": 16, "mlp_hidden": 32, "max_len": 5, "aln_weight": 1.0, "train": train_cfg,
    }  # fmt: skip
    return IntRRConfig(**{**common, **kw})


@pytest.fixture
def tiny():
    """``tiny(sids=None, seed=0, train={...}, **config)``: a tiny generator, built for
    ``sids`` (seeded) when they are given."""

    def make(sids: SIDTable | None = None, seed: int = 0, **kw) -> IntRRGenerator:
        gen = IntRRGenerator(tiny_config(**kw))
        if sids is not None:
            gen.build(sids, seed=seed)
        return gen

    return make


@pytest.fixture
def make_sids():
    """``make_sids(n_items, sizes=(4, 4, 4), seed=0, shared=0)``: distinct random SIDs, then
    the last ``shared`` items copy the SIDs of the first ones (collisions)."""

    def make(n_items: int, sizes=(4, 4, 4), seed: int = 0, shared: int = 0) -> SIDTable:
        rng = np.random.default_rng(seed)
        cells = rng.choice(int(np.prod(sizes)), n_items - shared, replace=False)
        codes = np.stack(np.unravel_index(cells, sizes), axis=1)
        return SIDTable(np.concatenate([codes, codes[:shared]]), sizes)

    return make


@pytest.fixture
def make_histories():
    """``make_histories(n, n_items, longest=7, seed=0)``: random histories, empty ones included."""

    def make(n: int, n_items: int, longest: int = 7, seed: int = 0) -> Ragged:
        rng = np.random.default_rng(seed)
        return Ragged.from_lists([rng.integers(0, n_items, rng.integers(0, longest + 1)) for _ in range(n)])

    return make


@pytest.fixture
def beam():
    """``beam(**options)``: grid's ``beam`` decoder, built through the registry."""

    def make(**options):
        spec = get_registry().get("decoder", "beam")
        return spec.build(spec.config(**options))

    return make
