"""All-position training (``windows = "all"``) of the causal ``decoder-only`` generator and
of ``tiger`` with its item-causal encoder: one pass over a window equals the sliding-window
samples of all its prefixes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from seq_toys import random_sids, successor_split, tiny, train_config
from sidkit.context import Context
from sidkit.data import causal_windows, sliding_windows
from sidkit.types import Ragged
from sidkit_grid.configs import DecoderOnlyConfig
from sidkit_grid.generators.sequences import IGNORE, SIDVocab

pytestmark = pytest.mark.usefixtures("one_thread")


def _built(windows: str, sids, user_buckets: int = 0, name: str = "decoder-only"):
    gen = tiny(name, windows=windows, user_buckets=user_buckets, max_len=6)
    gen.build(SIDVocab(sids.codebook_sizes, user_buckets), seed=3)
    gen.model.train()  # dropout is 0: train mode is deterministic
    return gen


def _loss_and_grads(gen, sids, train, users, first_target=None):
    windows = gen.training_samples(train, users, first_target)
    gen.model.zero_grad()
    loss = gen.loss(gen.batch(sids, windows, np.arange(len(windows))), reduction="sum")
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in gen.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", ["decoder-only", "tiger"])
@pytest.mark.parametrize("user_buckets", [0, 5])
@pytest.mark.parametrize("first_target", [None, np.array([0, 3, 0])])
def test_all_positions_loss_and_gradient_equal_the_sum_over_prefixes(name, user_buckets, first_target):
    sids = random_sids(20, sizes=(4, 4, 3))
    # sequences no longer than max_len + 1 = 7: one window each, so every prefix is whole
    train = Ragged.from_lists([[1, 5, 9, 2, 7], [3, 4, 0, 11, 12, 13, 14], [8, 19]])
    users = np.array([10, 11, 12])
    gen = _built("all", sids, user_buckets, name)
    all_loss, all_grads = _loss_and_grads(gen, sids, train, users, first_target)
    ref = _built("sliding", sids, user_buckets, name)
    ref.model = copy.deepcopy(gen.model)  # tiger: the same item-causal encoder, fed one prefix per sample
    sl_loss, sl_grads = _loss_and_grads(ref, sids, train, users, first_target)
    n_targets = len(sliding_windows(train, 6, first_target=first_target)[1]) * sids.n_levels
    assert gen.training_samples(train, users, first_target).n_targets * sids.n_levels == n_targets
    assert n_targets == (4 + 6 + 1 if first_target is None else 4 + 4 + 1) * 3
    torch.testing.assert_close(all_loss, sl_loss, rtol=1e-5, atol=1e-4)
    assert all_grads.keys() == sl_grads.keys()
    for name, grad in all_grads.items():
        torch.testing.assert_close(grad, sl_grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_all_position_labels_mark_only_target_items():
    sids = random_sids(20, sizes=(4, 4, 3))
    gen = _built("all", sids, user_buckets=5)
    train = Ragged.from_lists([[1, 5, 9], [3, 4]])
    batch = gen.batch(sids, gen.training_samples(train, np.array([0, 1])), np.arange(2))
    inputs, labels = batch["inputs"].numpy(), batch["labels"].numpy()
    tokens = gen.item_tokens(sids)
    # row 0: [user, BOS, tok(1), tok(5), tok(9)] less the last token; labels: tok(5), tok(9)
    assert inputs.shape == (2, 2 + 3 * 3 - 1)
    assert inputs[0, 1] == 2 and inputs[0, 0] == gen.vocab.user_tokens(np.array([0]))[0]
    assert (labels[0] != IGNORE).sum() == 6 and (labels[0, -6:] == np.r_[tokens[5], tokens[9]]).all()
    # row 1 is left-padded by one item; its only target is item 4
    assert (inputs[1, :3] == 0).all() and (labels[1] != IGNORE).sum() == 3 and (labels[1, -3:] == tokens[4]).all()


def test_long_sequences_are_cut_into_windows_overlapping_by_one():
    train = Ragged.from_lists([list(range(10))])
    rows, items, is_target = causal_windows(train, 3)
    # windows from the end: [6..9], [3..6], [0..3]; each first item is context only
    assert items.tolist() == [[6, 7, 8, 9], [3, 4, 5, 6], [0, 1, 2, 3]]
    assert sorted(items[is_target].tolist()) == list(range(1, 10))
    assert rows.tolist() == [0, 0, 0]


def test_tiger_causal_encoder_ignores_later_items():
    """``windows = "all"`` builds an encoder causal over items: changing a later item leaves
    the encodings of the earlier items' tokens unchanged; GRID's encoder is bidirectional."""
    sids = random_sids(20, sizes=(4, 4, 3))
    for windows, causal in (("all", True), ("sliding", False)):
        gen = tiny("tiger", windows=windows)
        gen.build(SIDVocab(sids.codebook_sizes), seed=0)
        assert gen.causal_encoder is causal and gen.context_bos is causal and gen.context_eos is not causal
        # a sliding-window model's saved config (and resume fingerprint) is what it was before "all" existed
        assert ("causal_encoder" in gen.model.config.to_diff_dict()) is causal
        assert hasattr(gen.model, "recency_bias") is causal
        context = gen.context(sids, np.array([[1, 5, 9], [1, 5, 10]]), None)
        with torch.no_grad():
            hidden = gen.model.encoder(input_ids=context, attention_mask=gen.encoder_mask(context)).last_hidden_state
        first_two = slice(0, 1 + 2 * 3) if causal else slice(0, 2 * 3)  # (BOS +) items 1 and 5
        assert torch.allclose(hidden[0, first_two], hidden[1, first_two], atol=1e-6) is causal


def test_tiger_window_blocks_mark_only_target_items():
    sids = random_sids(20, sizes=(4, 4, 3))
    gen = _built("all", sids, name="tiger")
    train = Ragged.from_lists([[1, 5, 9], [3, 4]])
    batch = gen.batch(sids, gen.training_samples(train), np.arange(2))
    tokens = gen.item_tokens(sids)
    # encoder: BOS tok(1) tok(5) / one padded item, BOS tok(3); one decoder block per target column (2 of 3)
    assert batch["context"].shape == (2, 1 + 2 * 3) and batch["decoder"].shape == (2, 2 * 3)
    assert batch["context"][1, :4].tolist() == [0, 0, 0, 2]
    labels = batch["labels"].numpy()
    assert (labels[0] == np.r_[tokens[5], tokens[9]]).all()
    assert (labels[1, :3] == IGNORE).all() and (labels[1, 3:] == tokens[4]).all()
    assert batch["decoder"][0, :3].tolist() == [2, *tokens[5][:2]]
    assert batch["visible"].tolist() == [1, 1, 1, 0, 0, 0]  # column 1 reads items ranked >= 1 from the end


def test_windows_option_is_validated():
    with pytest.raises(ValueError, match="windows"):
        DecoderOnlyConfig(windows="every")


@pytest.mark.parametrize("name", ["decoder-only", "tiger"])
def test_all_positions_learns_the_planted_rule(name):
    split = successor_split()
    sids = random_sids(split.n_items)
    # top-1 over seeds 0-3 with torch's for-loop and fused Adam (a rounding difference decides a
    # seed's run): decoder-only 0.96-1.0 after 30 epochs; tiger 0.90-1.0 after 30, 0.94-1.0
    # after 50 (its misses rank an item of the history first: recency comes from a learnt bias)
    epochs, floor = (50, 0.9) if name == "tiger" else (30, 0.95)
    gen = tiny(name, windows="all", train=train_config(epochs=epochs))
    gen.fit(sids, Context(split=split, progress=False))
    from sidkit_grid.configs import BeamConfig
    from sidkit_grid.decoding.beam import BeamDecoder

    ranks = BeamDecoder(BeamConfig(beam_width=10)).rank(gen, sids, split.valid.histories, 10, None)
    assert float((ranks.items[:, 0] == split.valid.targets.values).mean()) >= floor


# -- windows = "sample" -------------------------------------------------------------------------
def test_sampled_windows_draw_prefixes_of_the_right_sequence():
    from sidkit_grid.generators.sequences import sampled_windows

    train = Ragged.from_lists([[1, 5, 9, 2, 7], [3], [3, 4, 0], [8, 19]])
    sampled = sampled_windows(train, 4, per_sequence=3, users=np.array([10, 11, 12, 13]))
    assert len(sampled) == 3 * 3  # the one-item sequence gives no sample
    torch.manual_seed(0)
    picks = sampled.draw(np.arange(len(sampled)))
    users = sampled.windows.users[picks]
    assert users.tolist() == [10, 10, 10, 12, 12, 12, 13, 13, 13]
    torch.manual_seed(0)
    assert (sampled.draw(np.arange(len(sampled))) == picks).all()  # the global RNG decides
    many = sampled.draw(np.zeros(2000, dtype=np.int64))
    assert set(sampled.windows.targets[many].tolist()) == {5, 9, 2, 7}  # every prefix of sequence 0


def test_tiger_learns_the_planted_rule_from_sampled_prefixes():
    from sidkit_grid.configs import BeamConfig
    from sidkit_grid.decoding.beam import BeamDecoder

    split = successor_split()
    sids = random_sids(split.n_items)
    gen = tiny("tiger", windows="sample", samples_per_sequence=8, train=train_config(epochs=20))
    gen.fit(sids, Context(split=split, progress=False))
    ranks = BeamDecoder(BeamConfig(beam_width=10)).rank(gen, sids, split.valid.histories, 10, None)
    assert float((ranks.items[:, 0] == split.valid.targets.values).mean()) >= 0.9


def test_tiger_windows_option_is_validated():
    from sidkit_grid.configs import TigerConfig

    with pytest.raises(ValueError, match="windows"):
        TigerConfig(windows="every")


def test_tiger_attention_dropout_applies_to_attention_only(tmp_path):
    from transformers.models.t5.modeling_t5 import T5Attention

    sids = random_sids(20, sizes=(4, 4, 3))
    gen = tiny("tiger", dropout=0.2, attn_dropout=0.0)
    gen.build(SIDVocab(sids.codebook_sizes), seed=0)
    attention = [m for m in gen.model.modules() if isinstance(m, T5Attention)]
    hidden = [m for m in gen.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(attention) == 3 and all(m.dropout == 0.0 for m in attention)  # 1 + 1 layers: 3 attentions
    assert hidden and all(m.p == 0.2 for m in hidden)
    gen.save(tmp_path)
    fresh = tiny("tiger")
    fresh.load(tmp_path)
    assert all(m.dropout == 0.0 for m in fresh.model.modules() if isinstance(m, T5Attention))
