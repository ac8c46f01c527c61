"""Tiny generators and toy data shared by test_generators.py and test_beam.py."""

from __future__ import annotations

import numpy as np
from sidkit.testing import successor_split  # noqa: F401 (re-exported for the tests)
from sidkit.types import Ragged, SIDTable
from sidkit_grid.configs import DecoderOnlyConfig, TigerConfig
from sidkit_grid.configs.generators import GridOptimConfig, GridTrainConfig
from sidkit_grid.generators.decoder_only import DecoderOnlyGenerator
from sidkit_grid.generators.sequences import SIDVocab
from sidkit_grid.generators.tiger import TigerGenerator


def train_config(**kw) -> GridTrainConfig:
    lr = kw.pop("lr", 5e-3)
    return GridTrainConfig(**{"epochs": 20, "batch_size": 64, "optim": GridOptimConfig(lr=lr), "progress": False, **kw})


def tiny(name: str, *, train: GridTrainConfig | None = None, **kw):
    """A generator small enough to train in seconds on a CPU core."""
    common = {
        "d_model": 32,
        "d_ff": 64,
        "num_heads": 2,
        "dropout": 0.0,
        "max_len": 5,
        "train": train or train_config(),
        **kw,
    }
    if name == "tiger":
        return TigerGenerator(TigerConfig(**{"d_kv": 16, "encoder_layers": 1, "decoder_layers": 1, **common}))
    return DecoderOnlyGenerator(DecoderOnlyConfig(**{"num_layers": 2, **common}))


GENERATORS = ("tiger", "decoder-only")


def built(name: str, sids: SIDTable, seed: int = 0, **kw):
    """An untrained (seeded) tiny generator for ``sids``."""
    gen = tiny(name, **kw)
    gen.build(SIDVocab(sids.codebook_sizes, gen.config.user_buckets), seed=seed)
    return gen


def random_sids(n_items: int, sizes=(4, 4, 4), *, unique: bool = True, seed: int = 0) -> SIDTable:
    rng = np.random.default_rng(seed)
    if not unique:
        return SIDTable(np.stack([rng.integers(0, w, n_items) for w in sizes], 1), sizes)
    flat = rng.choice(int(np.prod(sizes)), n_items, replace=False)
    return SIDTable(np.stack(np.unravel_index(flat, sizes), 1), sizes)


def random_histories(n: int, n_items: int, max_len: int = 7, seed: int = 0) -> Ragged:
    rng = np.random.default_rng(seed)
    return Ragged.from_lists([rng.integers(0, n_items, rng.integers(0, max_len + 1)) for _ in range(n)])


