"""Decoding ``intrr`` with grid's ``beam``: one backbone pass per batch over one position per
item, constrained search = exhaustive scoring, only valid SIDs, free decoding, the cached
item table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sidkit.capabilities import StepwiseGeneration
from sidkit.errors import SidkitError
from sidkit.types import Ragged, SIDTable
from sidkit_grid.api import PrefixIndex, beam_search

pytestmark = pytest.mark.usefixtures("one_thread")


def test_constrained_rank_runs_the_backbone_once_per_batch_on_one_position_per_item(
    tiny, make_sids, make_histories, beam
):
    sids = make_sids(40)
    gen = tiny(sids, max_len=6)
    histories = make_histories(30, 40, longest=9, seed=2)
    calls = []
    gen.model.backbone.register_forward_hook(
        lambda _m, _args, kwargs, _out: calls.append(tuple(kwargs["inputs_embeds"].shape)), with_kwargs=True
    )
    rankings = beam(beam_width=10).rank(gen, sids, histories, 10, None)
    longest = min(int(histories.lengths.max()), 6)
    assert calls == [(30, longest + 1, 32)]  # one pass, one vector per history item + the start vector
    assert isinstance(gen, StepwiseGeneration)
    assert rankings.items.shape == (30, 10) and (rankings.items >= 0).all()
    beam(beam_width=10, batch_size=8).rank(gen, sids, histories, 10, None)
    assert len(calls) == 1 + 4  # 30 histories in batches of 8


def test_item_table_is_cached_per_sid_table_and_refreshed_after_a_parameter_update(
    tiny, make_sids, make_histories, beam
):
    sids = make_sids(40)
    gen = tiny(sids)
    histories = make_histories(6, 40)
    item_passes = []
    gen.model.project.register_forward_hook(lambda *_: item_passes.append(1))
    decoder = beam(beam_width=5)
    first = decoder.rank(gen, sids, histories, 5, None)
    decoder.rank(gen, sids, histories, 5, None)
    assert len(item_passes) == 1
    decoder.rank(gen, SIDTable(sids.codes.copy(), sids.codebook_sizes), histories, 5, None)
    assert len(item_passes) == 2  # another SID table
    with torch.no_grad():
        gen.model.uid.weight.add_(torch.randn_like(gen.model.uid.weight))
    changed = decoder.rank(gen, sids, histories, 5, None)
    assert len(item_passes) == 3 and not np.array_equal(first.scores, changed.scores)
    # a fused Adam step leaves the parameters' version counters as they were
    from sidkit.training import build_optimizer
    from sidkit.training.config import OptimConfig

    opt = build_optimizer(gen.model.parameters(), OptimConfig(name="adam", lr=0.1))
    assert opt.defaults["fused"]
    gen.model.uid.weight.grad = torch.ones_like(gen.model.uid.weight)
    versions = [p._version for p in gen.model.parameters()]
    opt.step()
    assert [p._version for p in gen.model.parameters()] == versions
    stepped = decoder.rank(gen, sids, histories, 5, None)
    assert len(item_passes) == 4 and not np.array_equal(changed.scores, stepped.scores)


@pytest.mark.parametrize("ran_context", ["previous", "prefix"])
def test_constrained_beam_equals_exhaustive_scoring_of_every_valid_sid(tiny, make_sids, make_histories, beam, ran_context):
    """With as many beams as valid SIDs, beam search is exhaustive: every item ranked by its
    SID's sequence log-probability, items of a shared SID by item index."""
    sids = make_sids(27, shared=3)  # items 24..26 share the SIDs of items 0..2
    gen = tiny(sids, seed=4, ran_context=ran_context)
    histories = make_histories(5, 27, seed=1)
    unique = np.unique(sids.codes, axis=0)
    k = sids.n_items
    rankings = beam(beam_width=len(unique)).rank(gen, sids, histories, k, None)
    for row in range(5):
        per_sid = gen.sequence_log_probs(histories.take(np.full(len(unique), row)), sids, unique).numpy()
        lookup = {tuple(u): s for u, s in zip(unique.tolist(), per_sid, strict=True)}
        per_item = np.array([lookup[tuple(c)] for c in sids.codes.tolist()])
        order = np.lexsort((np.arange(k), -per_item))
        np.testing.assert_array_equal(rankings.items[row], order)
        np.testing.assert_allclose(rankings.scores[row], per_item[order], atol=1e-5)


@pytest.mark.parametrize("ran_context", ["previous", "prefix"])
def test_narrow_beams_return_only_valid_sids_scored_as_sequence_log_probs(tiny, make_sids, make_histories, beam, ran_context):
    """Narrow beams reorder at every level (a prefix context follows its beam's parent)."""
    sids = make_sids(300, sizes=(8, 8, 8), seed=4)
    gen = tiny(sids, seed=1, ran_context=ran_context)
    histories = make_histories(16, 300)
    index = PrefixIndex(sids)
    leaves, scores = beam_search(gen, gen.encode(histories, sids), index, 5, True)
    assert (leaves >= 0).all() and torch.isfinite(scores).all()
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    rankings = beam(beam_width=5).rank(gen, sids, histories, 5, None)
    assert ((rankings.items >= 0) & (rankings.items < 300)).all()
    top = gen.sequence_log_probs(histories, sids, sids.codes[rankings.items[:, 0]])
    np.testing.assert_allclose(rankings.scores[:, 0], top.numpy(), atol=1e-5)


def test_step_gives_one_level_and_minus_infinity_elsewhere(tiny, make_sids, make_histories):
    sids = make_sids(30, sizes=(4, 5, 3))
    gen = tiny(sids)
    state = gen.encode(make_histories(3, 30), sids)
    offsets = gen.vocab.offsets
    tokens = None
    for level, width in enumerate(sids.codebook_sizes):
        logits = gen.step(state, tokens, None)
        inside = logits[..., offsets[level] : offsets[level] + width]
        assert torch.isfinite(inside).all()
        assert torch.isneginf(logits).sum() == logits.numel() - inside.numel()
        tokens = torch.full((3, 2), offsets[level] + 1)


def test_free_decoding_back_fills_from_the_encoded_states(tiny, make_sids, make_histories, beam):
    sids = make_sids(12, sizes=(4, 4, 4), seed=2)  # 12 of 64 SIDs valid: free beams often miss
    gen = tiny(sids, seed=3)
    histories = make_histories(8, 12)
    passes = []
    gen.model.backbone.register_forward_hook(lambda *_: passes.append(1))
    rankings = beam(beam_width=4, constrained=False).rank(gen, sids, histories, 4, None)
    assert len(passes) == 1  # the back-fill reuses the states
    assert ((rankings.items >= 0) & (rankings.items < 12)).all()
    assert all(len(set(row)) == 4 for row in rankings.items.tolist())


def test_batching_and_empty_histories_do_not_change_rankings(tiny, make_sids, make_histories, beam):
    sids = make_sids(40)
    gen = tiny(sids)
    histories = make_histories(20, 40, seed=5)
    assert (histories.lengths == 0).any()
    whole = beam(beam_width=6).rank(gen, sids, histories, 6, None)
    pieces = beam(beam_width=6, batch_size=3).rank(gen, sids, histories, 6, None)
    np.testing.assert_array_equal(whole.items, pieces.items)
    np.testing.assert_allclose(whole.scores, pieces.scores, atol=1e-5)


def test_history_items_outside_the_sid_table_are_refused(tiny, make_sids):
    sids = make_sids(20)
    gen = tiny(sids)
    with pytest.raises(SidkitError, match="item 25, but the SID table has 20 items"):
        gen.encode(Ragged.from_lists([[3, 25]]), sids)


def test_item_table_built_under_bf16_autocast_is_float32(tiny, make_sids, make_histories, beam):
    """Validation runs under bf16 autocast; the cached table must not carry bf16 into a
    later float32 ranking."""
    sids = make_sids(40)
    gen = tiny(sids, redistribution="soft")  # the mixture would be bf16 under autocast
    histories = make_histories(6, 40)
    decoder = beam(beam_width=5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        decoder.rank(gen, sids, histories, 5, None)
    assert gen.item_table(sids).dtype == torch.float32
    after = decoder.rank(gen, sids, histories, 5, None)
    fresh = decoder.rank(gen, SIDTable(sids.codes, sids.codebook_sizes), histories, 5, None)
    np.testing.assert_array_equal(after.scores, fresh.scores)
