"""The generators' training batches from lazy windows equal those of the materialised
windows they replaced (every batch, every row; user ids and left padding included), for
``windows = "sliding"``, ``"all"`` and ``"sample"``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sidkit.data import causal_windows, sliding_windows
from sidkit.types import Ragged, SIDTable
from sidkit_grid.configs import DecoderOnlyConfig, TigerConfig
from sidkit_grid.generators.decoder_only import DecoderOnlyGenerator
from sidkit_grid.generators.sequences import (
    SIDVocab,
    causal_tokens,
    causal_training_windows,
    context_tokens,
    sampled_windows,
    training_windows,
)
from sidkit_grid.generators.tiger import TigerGenerator


# -- the oracle: core's materialised windows (themselves checked against sidkit 0.1's code in
# core/tests/data/test_lazy_windows.py) with each sample's user attached -----------------------
def old_sliding(train: Ragged, max_len: int, users: np.ndarray, first_target=None):
    inputs, targets = sliding_windows(train, max_len, first_target=first_target)
    first = np.ones(len(train), dtype=np.int64) if first_target is None else np.maximum(first_target, 1)
    return inputs, targets, np.repeat(users, np.maximum(train.lengths - first, 0))


def old_causal(train: Ragged, max_len: int, users: np.ndarray, first_target=None):
    rows, items, is_target = causal_windows(train, max_len, first_target=first_target)
    return items, is_target, users[rows]


def data(seed: int, n: int = 200):
    rng = np.random.default_rng(seed)
    train = Ragged.from_lists([rng.integers(0, 60, k) for k in rng.integers(0, 30, n)])
    users = rng.permutation(10 * n)[:n]
    first = rng.integers(0, 12, n)
    sids = SIDTable(rng.integers(0, 8, (60, 3)), (8, 8, 8))
    return train, users, first, sids


def batches(n: int, seed: int, size: int = 32):
    return np.split(np.random.default_rng(seed).permutation(n), range(size, n, size))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("with_first", [False, True])
@pytest.mark.parametrize("max_len", [1, 4, 20])
def test_sliding_batches_equal(seed, with_first, max_len):
    train, users, first, sids = data(seed)
    first = first if with_first else None
    inputs, targets, sample_users = old_sliding(train, max_len, users, first)
    lazy = training_windows(train, max_len, users, first)
    assert len(lazy) == len(targets)
    assert np.array_equal(lazy.lengths, inputs.lengths)
    assert np.array_equal(lazy.users, sample_users) and np.array_equal(lazy.targets, targets)
    vocab = SIDVocab(sids.codebook_sizes, user_buckets=5)
    for rows in batches(len(lazy), seed):
        items, tgt, u = lazy.batch(rows, max_len)
        want = inputs.to_padded(max_len, rows=rows)
        assert np.array_equal(items, want)  # left padding with -1
        assert np.array_equal(tgt, targets[rows]) and np.array_equal(u, sample_users[rows])
        tokens = vocab.item_tokens(sids.codes)
        assert np.array_equal(
            context_tokens(vocab, tokens, items, u, eos=True),
            context_tokens(vocab, tokens, want, sample_users[rows], eos=True),
        )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("with_first", [False, True])
@pytest.mark.parametrize("max_len", [1, 3, 20])
def test_causal_batches_equal(seed, with_first, max_len):
    train, users, first, sids = data(seed)
    first = first if with_first else None
    items, is_target, window_users = old_causal(train, max_len, users, first)
    lazy = causal_training_windows(train, max_len, users, first)
    assert len(lazy) == len(items)
    assert lazy.n_targets == int(is_target.sum())
    assert np.array_equal(lazy.lengths, (items >= 0).sum(axis=1))
    vocab = SIDVocab(sids.codebook_sizes, user_buckets=5)
    tokens = vocab.item_tokens(sids.codes)
    for rows in batches(len(lazy), seed):
        got = lazy.rows(rows)
        assert np.array_equal(got[0], items[rows]) and np.array_equal(got[1], is_target[rows])
        assert np.array_equal(got[2], window_users[rows])
        a = causal_tokens(vocab, tokens, *got)
        b = causal_tokens(vocab, tokens, items[rows], is_target[rows], window_users[rows])
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", range(3))
def test_sampled_batches_equal(seed):
    train, users, first, _ = data(seed)
    inputs, targets, sample_users = old_sliding(train, 5, users, first)
    counts = np.maximum(train.lengths - np.maximum(first, 1), 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lazy = sampled_windows(train, 5, 3, users, first)
    assert np.array_equal(lazy.starts, starts[counts > 0]) and np.array_equal(lazy.counts, counts[counts > 0])
    torch.manual_seed(seed)
    picks = lazy.draw(np.arange(len(lazy)))
    items, tgt, u = lazy.windows.batch(picks, 5)
    assert np.array_equal(items, inputs.to_padded(5, rows=picks))
    assert np.array_equal(tgt, targets[picks]) and np.array_equal(u, sample_users[picks])


GENERATORS = {
    "tiger-sliding": lambda: TigerGenerator(TigerConfig(d_model=16, d_ff=32, num_heads=2, d_kv=8, encoder_layers=1,
                                                        decoder_layers=1, max_len=4, user_buckets=3)),
    "decoder-only-all": lambda: DecoderOnlyGenerator(DecoderOnlyConfig(d_model=16, d_ff=32, num_heads=2,
                                                                       num_layers=1, max_len=4, windows="all",
                                                                       user_buckets=3)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_batches_equal_the_materialised_ones(name):
    train, users, first, sids = data(0, 80)
    gen = GENERATORS[name]()
    gen.max_len = 4
    gen.build(SIDVocab(sids.codebook_sizes, 3), seed=0)
    windows = gen.training_samples(train, users, first)
    vocab, tokens = gen.vocab, gen.item_tokens(sids)
    for rows in batches(len(windows), 1):
        got = gen.batch(sids, windows, rows)
        if isinstance(got, dict):
            items, is_target, u = (a[rows] for a in old_causal(train, 4, users, first))
            inputs, labels = causal_tokens(vocab, tokens, items, is_target, u)
            assert np.array_equal(got["inputs"].numpy(), inputs) and np.array_equal(got["labels"].numpy(), labels)
        else:
            inputs, targets, u = old_sliding(train, 4, users, first)
            ctx = context_tokens(vocab, tokens, inputs.to_padded(4, rows=rows), u[rows], eos=gen.context_eos,
                                 bos=gen.context_bos)  # fmt: skip
            assert np.array_equal(got[0].numpy(), ctx) and np.array_equal(got[1].numpy(), tokens[targets[rows]])
