"""Train a tiny ``intrr`` generator, under ``torchrun`` or alone, and write its parameters.

``python ddp_fit.py OUT`` writes ``OUT-rank<r>.safetensors``; the test compares the ranks
of a 2-process gloo run with each other and with the same training in one process
(:func:`train`). Every training sequence has the same length, so every rank's shard holds
as many targets and history items as the others and the averaged gradient equals the
full batch's.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sidkit.context import Context
from sidkit.types import EvalSet, Ragged, SIDTable, SplitData

N_ITEMS, N_USERS, SEED = 24, 60, 5


def toy() -> tuple[SplitData, SIDTable]:
    """Successor walks of 6 items (one window of ``max_len + 1`` each) and distinct SIDs."""
    rng = np.random.default_rng(0)
    train = Ragged.from_lists([(s + np.arange(6)) % N_ITEMS for s in rng.integers(0, N_ITEMS, N_USERS)])
    valid = EvalSet(
        np.arange(4), Ragged.from_lists([[1, 2], [5], [7, 8, 9], [0]]), Ragged.from_lists([[3], [6], [10], [1]])
    )
    cells = rng.choice(64, N_ITEMS, replace=False)
    return SplitData(train, valid, valid, N_ITEMS), SIDTable(np.stack(np.unravel_index(cells, (4, 4, 4)), 1), (4, 4, 4))


def untrained_generator():
    """A generator for :func:`toy`: batches of 16 windows, 3 epochs (the last batch 12: 6 per
    rank); built with the seed :func:`train` uses, not trained yet. SGD, not Adam: Adam
    scales the float noise of gradients that are zero in exact arithmetic (GPT-2's key
    biases) to full-size steps, and the ranks' and the single process's sums differ in that
    noise."""
    from sidkit_intrr.config import IntRRConfig, IntRROptimConfig, IntRRTrainConfig
    from sidkit_intrr.generator import IntRRGenerator

    cfg = IntRRConfig(
        d_model=16, num_layers=1, num_heads=2, d_ff=32, dropout=0.0, item_dim=8, mlp_hidden=16, max_len=5,
        train=IntRRTrainConfig(epochs=3, batch_size=16, optim=IntRROptimConfig(name="sgd", lr=0.1, momentum=0.9),
                              progress=False),
    )  # fmt: skip
    gen = IntRRGenerator(cfg)
    gen.build(toy()[1], seed=SEED)
    return gen


def train():
    """:func:`untrained_generator` trained on :func:`toy` (under torchrun: DDP)."""
    split, sids = toy()
    gen = untrained_generator()
    gen.fit(sids, Context(split=split, seed=SEED, device="cpu", progress=False))
    return gen


if __name__ == "__main__":
    from safetensors.torch import save_file
    from sidkit.training import cleanup
    from sidkit.training.distributed import dist_info

    torch.set_num_threads(1)
    gen = train()
    rank = dist_info().rank
    save_file({k: v.contiguous() for k, v in gen.model.state_dict().items()}, f"{sys.argv[1]}-rank{rank}.safetensors")
    cleanup()
