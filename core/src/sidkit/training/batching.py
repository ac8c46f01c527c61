"""Batch order of one epoch: a seeded permutation, optionally grouped by sample length.

Padded batches cost as much as their longest row. Grouping by length (the "bucketing"
sampler of sequence-to-sequence toolkits) cuts the permutation into pools of
``POOL_BATCHES`` batches, sorts each pool by length, cuts it into batches and shuffles the
batches, so a batch holds samples of similar length while the epoch stays a random
permutation of every sample. Everything is drawn from the epoch's generator, so the order
is a function of ``(seed, epoch)`` and a resumed run sees the same batches.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["epoch_order", "POOL_BATCHES"]

POOL_BATCHES = 64
"""Batches per sorting pool: large enough to group lengths, small enough to keep batches random."""


def epoch_order(
    n_examples: int, batch_size: int, generator: torch.Generator, lengths: np.ndarray | None = None
) -> torch.Tensor:
    """A permutation of ``range(n_examples)`` whose consecutive ``batch_size`` blocks are the
    epoch's batches. With ``lengths`` (one per sample), each full batch holds samples of
    similar length and the batches come in random order; the last, partial batch (if any)
    stays last."""
    order = torch.randperm(n_examples, generator=generator)
    if lengths is None or n_examples <= batch_size:
        return order
    lengths = np.asarray(lengths)
    if lengths.shape != (n_examples,):
        raise ValueError(f"lengths must have one entry per example ({n_examples}), got shape {lengths.shape}")
    perm = order.numpy()
    pool = POOL_BATCHES * batch_size
    grouped = np.concatenate(
        [chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in np.split(perm, range(pool, n_examples, pool))]
    )
    n_full = n_examples // batch_size
    batches = torch.randperm(n_full, generator=generator).numpy()
    full = grouped[: n_full * batch_size].reshape(n_full, batch_size)[batches].reshape(-1)
    return torch.from_numpy(np.concatenate([full, grouped[n_full * batch_size :]]))
