"""Length-grouped epoch order: still a permutation, batches of similar length, seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sidkit.training.batching import POOL_BATCHES, epoch_order


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_grouped_order_is_a_permutation_with_the_partial_batch_last():
    n, bs = 1000, 7
    lengths = np.random.default_rng(0).integers(1, 50, n)
    order = epoch_order(n, bs, _gen(0), lengths).numpy()
    assert sorted(order.tolist()) == list(range(n))
    assert len(order[(n // bs) * bs :]) == n % bs


def test_grouped_batches_pad_far_less_than_random_ones():
    n, bs = 64 * POOL_BATCHES, 64
    lengths = np.random.default_rng(1).integers(1, 100, n)

    def padding(order: np.ndarray) -> int:
        batches = lengths[order].reshape(-1, bs)
        return int((batches.max(1, keepdims=True) - batches).sum())

    grouped = padding(epoch_order(n, bs, _gen(0), lengths).numpy())
    plain = padding(epoch_order(n, bs, _gen(0)).numpy())
    assert grouped * 10 < plain


def test_grouped_order_depends_only_on_the_generator_seed():
    lengths = np.arange(500) % 13
    a = epoch_order(500, 16, _gen(3), lengths)
    assert torch.equal(a, epoch_order(500, 16, _gen(3), lengths))
    assert not torch.equal(a, epoch_order(500, 16, _gen(4), lengths))


def test_grouped_batches_come_in_random_order():
    lengths = np.arange(2048)
    order = epoch_order(2048, 16, _gen(0), lengths).numpy().reshape(-1, 16)
    firsts = lengths[order[:, 0]]
    assert not (np.diff(firsts) > 0).all()  # not sorted by length
    assert (order.max(1) - order.min(1) < 16 * POOL_BATCHES).all()  # each batch from one pool


def test_lengths_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="one entry per example"):
        epoch_order(100, 8, _gen(0), np.ones(99))
