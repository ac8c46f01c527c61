"""Decoder beam: the prefix index, constrained search = exhaustive scoring, free decoding,
collisions, batching and the generator contract."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from seq_toys import GENERATORS, built, random_histories, random_sids
from sidkit.context import Context
from sidkit.errors import SidkitError
from sidkit.protocols import Decoder
from sidkit.registry import get_registry
from sidkit.types import Ragged, SIDTable
from sidkit_grid.configs import BeamConfig
from sidkit_grid.decoding.beam import BeamDecoder, beam_search
from sidkit_grid.decoding.prefix_index import PrefixIndex
from sidkit_grid.generators.sequences import BOS, SIDVocab

pytestmark = pytest.mark.usefixtures("one_thread")


class TableGenerator:
    """A stand-in generator whose next-token logits depend only on the last token fed;
    ``boost`` adds +20 along one code path, so that path is the model's favourite."""

    def __init__(self, sizes, boost=(), seed=0):
        self.vocab = SIDVocab(sizes)
        self.device = torch.device("cpu")
        self.table = torch.randn(self.vocab.size, self.vocab.size, generator=torch.Generator().manual_seed(seed))
        prev = BOS
        for offset, code in zip(self.vocab.offsets, boost, strict=False):
            self.table[prev, offset + code] += 20.0
            prev = offset + code

    def encode(self, histories, sids, users=None):
        return SimpleNamespace(batch=len(histories))

    def step(self, state, tokens=None, parents=None):
        if tokens is None:
            tokens = torch.full((state.batch, 1), BOS, dtype=torch.long)
        return self.table[tokens]

    def log_prob(self, codes: np.ndarray) -> np.ndarray:
        """Exact log-probability of each SID row."""
        logp = torch.log_softmax(self.table, -1)
        tokens = self.vocab.item_tokens(codes)
        prev = np.full(len(codes), BOS)
        total = np.zeros(len(codes))
        for t in range(tokens.shape[1]):
            total += logp[prev, tokens[:, t]].numpy()
            prev = tokens[:, t]
        return total


def exhaustive(scores_per_sid: np.ndarray, sids: SIDTable, unique: np.ndarray, k: int):
    """Top-k items by their SID's score (rows), items of one SID by item index."""
    groups = sids.sid_to_items()
    items, scores = [], []
    for row in scores_per_sid:
        order = np.argsort(-row, kind="stable")
        ranked = [(it, row[j]) for j in order for it in groups[tuple(unique[j])]][:k]
        items.append([i for i, _ in ranked])
        scores.append([s for _, s in ranked])
    return np.array(items), np.array(scores)


# -- prefix index ---------------------------------------------------------------------------------
def test_prefix_index_children_and_lookup_match_brute_force():
    sids = random_sids(60, sizes=(3, 4, 5), unique=False, seed=2)
    index = PrefixIndex(sids)
    codes = [tuple(r) for r in sids.codes.tolist()]
    unique = sorted(set(codes))
    assert index.n_sids == len(unique)
    nodes = [[()]]  # depth -> sorted prefixes
    for lev in range(3):
        nodes.append(sorted({c[: lev + 1] for c in codes}))
        children = index.children(lev, torch.arange(len(nodes[lev])))
        for p, prefix in enumerate(nodes[lev]):
            for code in range(sids.codebook_sizes[lev]):
                child = prefix + (code,)
                expect = nodes[lev + 1].index(child) if child in nodes[lev + 1] else -1
                assert children[p, code] == expect
    assert (index.children(1, torch.tensor([-1])) == -1).all()
    probe = torch.tensor([list(u) for u in unique] + [[2, 3, 4], [0, 9, 0], [-1, 0, 0]])
    expect = list(range(len(unique))) + [unique.index((2, 3, 4)) if (2, 3, 4) in unique else -1, -1, -1]
    assert index.lookup(probe).tolist() == expect


def test_prefix_index_memory_grows_with_items_not_code_space():
    small = PrefixIndex(random_sids(2_000, sizes=(4096, 4096, 4096), seed=1))
    large = PrefixIndex(random_sids(40_000, sizes=(4096, 4096, 4096), seed=1))
    assert large.nbytes() < 8 * 8 * 40_000  # a handful of int64 per item; the code space is 6.9e10
    assert 15 < large.nbytes() / small.nbytes() < 25


def test_expand_lists_every_item_of_a_shared_sid():
    codes = np.array([[0, 1], [2, 2], [0, 1], [1, 0], [0, 1], [2, 2]])
    index = PrefixIndex(SIDTable(codes, (3, 3)))
    leaves = index.lookup(torch.tensor([[0, 1], [2, 2], [1, 1]]))[None]  # [1, 1] is not a SID: -1
    items, scores = index.expand(leaves, torch.tensor([[-1.0, -2.0, -3.0]]), k=6)
    assert items.tolist() == [[0, 2, 4, 1, 5, -1]]
    assert scores.tolist() == [[-1.0, -1.0, -1.0, -2.0, -2.0, float("-inf")]]


# -- constrained search ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", GENERATORS)
def test_constrained_search_equals_exhaustive_scoring(name):
    """With beams >= valid SIDs, beam search keeps every valid prefix, so its ranking is the
    exhaustive one: every valid SID scored by teacher forcing, items of shared SIDs expanded."""
    base = random_sids(24, seed=3)
    codes = np.concatenate([base.codes, base.codes[[0, 0, 5]]])  # items 24, 25 share item 0's SID, 26 item 5's
    sids = SIDTable(codes, base.codebook_sizes)
    gen = built(name, sids)
    histories = random_histories(5, len(codes))
    unique = np.unique(codes, axis=0)
    k = len(codes)
    r = BeamDecoder(BeamConfig(beam_width=len(unique))).rank(gen, sids, histories, k, None)
    per_sid = np.stack(
        [gen.sequence_log_probs(histories.take(np.full(len(unique), i)), sids, unique).numpy() for i in range(5)]
    )
    items, scores = exhaustive(per_sid, sids, unique, k)
    np.testing.assert_allclose(r.scores, scores, atol=1e-5)
    np.testing.assert_array_equal(r.items, items)
    assert (np.sort(r.items, 1) == np.arange(k)).all()  # every item exactly once, none invalid


@pytest.mark.parametrize("name", GENERATORS)
def test_narrow_constrained_search_returns_only_valid_sids(name):
    sids = random_sids(300, sizes=(8, 8, 8), seed=4)
    gen = built(name, sids, seed=1)
    histories = random_histories(16, 300)
    decoder = BeamDecoder(BeamConfig(beam_width=5))
    leaves, scores = beam_search(gen, gen.encode(histories, sids), decoder.index(sids, gen.device), 5, True)
    assert (leaves >= 0).all() and torch.isfinite(scores).all()
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    r = decoder.rank(gen, sids, histories, 5, None)
    assert (r.items >= 0).all() and all(len(set(row)) == 5 for row in r.items.tolist())


def test_table_generator_constrained_scores_are_exact():
    sids = random_sids(40, sizes=(5, 5, 5), seed=5)
    gen = TableGenerator((5, 5, 5), seed=1)
    r = BeamDecoder(BeamConfig(beam_width=40)).rank(gen, sids, random_histories(2, 40), 40, None)
    np.testing.assert_allclose(r.scores[0], gen.log_prob(sids.codes[r.items[0]]), atol=1e-5)


# -- free decoding ------------------------------------------------------------------------------------
def test_free_decoding_drops_invalid_sids_and_back_fills():
    sids = random_sids(40, sizes=(5, 5, 5), seed=6)
    valid = {tuple(c) for c in sids.codes.tolist()}
    favourite = next((a, b, c) for a in range(5) for b in range(5) for c in range(5) if (a, b, c) not in valid)
    gen = TableGenerator((5, 5, 5), boost=favourite, seed=2)
    histories = random_histories(3, 40)
    decoder = BeamDecoder(BeamConfig(beam_width=6, constrained=False))
    leaves, scores = beam_search(gen, gen.encode(histories, sids), decoder.index(sids, gen.device), 6, False)
    assert leaves[0, 0] == -1 and scores[0, 0] > scores[0, 1:].max()  # the favourite is invalid
    free = decoder.rank(gen, sids, histories, 6, None)
    exact = BeamDecoder(BeamConfig(beam_width=40)).rank(gen, sids, histories, 6, None)
    assert (free.items >= 0).all() and all(len(set(row)) == 6 for row in free.items.tolist())
    assert all(tuple(sids.codes[i]) in valid for i in free.items.ravel())
    np.testing.assert_allclose(free.scores, gen.log_prob(sids.codes[free.items.ravel()]).reshape(3, 6), atol=1e-5)
    assert (np.diff(free.scores, axis=1) <= 1e-6).all()
    # the valid SIDs free search found come first; back-fill adds the best remaining valid ones
    found = {int(x) for x in leaves[0] if x >= 0}
    assert found and found <= {
        int(x) for x in decoder.index(sids, gen.device).lookup(torch.from_numpy(sids.codes[free.items[0]]))
    }
    np.testing.assert_array_equal(free.items, exact.items)


@pytest.mark.parametrize("name", GENERATORS)
def test_free_decoding_with_a_transformer_back_fills_from_cached_contexts(name):
    sids = random_sids(50, seed=7)
    gen = built(name, sids, seed=2)
    histories = random_histories(6, 50)
    free = BeamDecoder(BeamConfig(beam_width=4, constrained=False)).rank(gen, sids, histories, 8, None)
    constrained = BeamDecoder(BeamConfig(beam_width=8)).rank(gen, sids, histories, 8, None)
    assert (free.items >= 0).all() and all(len(set(row)) == 8 for row in free.items.tolist())
    exact = gen.sequence_log_probs(histories.take(np.repeat(np.arange(6), 8)), sids, sids.codes[free.items.ravel()])
    np.testing.assert_allclose(free.scores.ravel(), exact.numpy(), atol=1e-5)
    assert (free.scores >= constrained.scores - 1e-5).all()  # the union is at least as good, slot by slot


# -- collisions ------------------------------------------------------------------------------------
def test_collided_sids_map_to_all_their_items():
    codes = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [1, 1, 1], [1, 1, 1], [3, 3, 3]])
    sids = SIDTable(codes, (4, 4, 4))
    gen = TableGenerator((4, 4, 4), boost=(1, 1, 1), seed=0)
    r = BeamDecoder(BeamConfig(beam_width=4)).rank(gen, sids, random_histories(2, 6), 5, None)
    assert r.items[0, :3].tolist() == [1, 3, 4]
    assert r.scores[0, 0] == r.scores[0, 1] == r.scores[0, 2] > r.scores[0, 3]
    # a tokenizer with dedup="random" asks for a seeded random order among a SID's items
    orders = set()
    for seed in range(8):
        ctx = Context(seed=seed, tokenizer=SimpleNamespace(collision_order="random"))
        first = BeamDecoder(BeamConfig(beam_width=4)).rank(gen, sids, random_histories(1, 6), 3, ctx).items[0]
        again = BeamDecoder(BeamConfig(beam_width=4)).rank(gen, sids, random_histories(1, 6), 3, ctx).items[0]
        assert sorted(first.tolist()) == [1, 3, 4] and (first == again).all()
        orders.add(tuple(first.tolist()))
    assert len(orders) > 1


# -- options and contract ----------------------------------------------------------------------------
def test_beam_width_below_k_is_raised_to_k(caplog):
    sids = random_sids(30, seed=8)
    gen = TableGenerator((4, 4, 4), seed=3)
    with caplog.at_level(logging.WARNING):
        r = BeamDecoder(BeamConfig(beam_width=2)).rank(gen, sids, random_histories(2, 30), 7, None)
    assert "beam_width=2 < k=7" in caplog.text
    assert (r.items >= 0).all() and r.items.shape == (2, 7)


@pytest.mark.parametrize("name", GENERATORS)
def test_batch_size_and_empty_histories_do_not_change_rankings(name):
    sids = random_sids(40, seed=9)
    gen = built(name, sids)
    histories = Ragged.from_lists([[], [3], [1, 2, 3, 4, 5, 6, 7, 8], [], [9, 9]])
    one = BeamDecoder(BeamConfig(beam_width=5, batch_size=64)).rank(gen, sids, histories, 5, None)
    many = BeamDecoder(BeamConfig(beam_width=5, batch_size=2)).rank(gen, sids, histories, 5, None)
    np.testing.assert_array_equal(one.items, many.items)
    np.testing.assert_allclose(one.scores, many.scores, atol=1e-5)
    np.testing.assert_array_equal(one.items[0], one.items[3])  # empty histories: same answer


@pytest.mark.parametrize("name", GENERATORS)
def test_bf16_decoding_runs_in_bf16_and_keeps_the_ranking_and_the_weights(name):
    """``precision = "bf16"`` autocasts the model's matmuls (scores move by bf16 rounding,
    not by more) and leaves the fp32 weights alone."""
    sids = random_sids(200, sizes=(8, 8, 8), seed=5)
    gen = built(name, sids)
    histories = random_histories(16, 200)
    fp32 = BeamDecoder(BeamConfig(beam_width=10)).rank(gen, sids, histories, 10, None)
    bf16 = BeamDecoder(BeamConfig(beam_width=10, precision="bf16")).rank(gen, sids, histories, 10, None)
    assert not np.array_equal(fp32.scores, bf16.scores)  # the bf16 path ran
    for row in range(len(histories)):  # an item found by both gets nearly the same score
        a = dict(zip(fp32.items[row].tolist(), fp32.scores[row].tolist(), strict=True))
        b = dict(zip(bf16.items[row].tolist(), bf16.scores[row].tolist(), strict=True))
        for item in a.keys() & b.keys():
            assert b[item] == pytest.approx(a[item], rel=0.03)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fp32.items, bf16.items, strict=True)])
    assert overlap >= 0.9
    assert {p.dtype for p in gen.model.parameters()} == {torch.float32}
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16', got 'fp16'"):
        BeamConfig(precision="fp16")


def test_wide_beams_lower_the_histories_per_batch(monkeypatch):
    """At most MAX_BEAMS beams advance together: 256 histories x 500 beams would not fit."""
    from sidkit_grid.decoding import beam as beam_module

    assert BeamDecoder(BeamConfig(beam_width=500, batch_size=256)).histories_per_batch(500) == 16
    assert BeamDecoder(BeamConfig(beam_width=20, batch_size=256)).histories_per_batch(20) == 256
    assert BeamDecoder(BeamConfig(beam_width=40000)).histories_per_batch(40000) == 1
    monkeypatch.setattr(beam_module, "MAX_BEAMS", 12)
    sids = random_sids(40, seed=9)
    gen = TableGenerator((4, 4, 4), seed=3)
    histories = random_histories(7, 40)
    decoder = BeamDecoder(BeamConfig(beam_width=5, batch_size=64))
    seen = []
    search = decoder._search
    monkeypatch.setattr(decoder, "_search", lambda g, s, i, h, *a: seen.append(len(h)) or search(g, s, i, h, *a))
    chunked = decoder.rank(gen, sids, histories, 5, None)
    assert seen == [2, 2, 2, 1]  # 12 // 5 = 2 histories per batch
    whole = BeamDecoder(BeamConfig(beam_width=5, batch_size=64))
    monkeypatch.setattr(beam_module, "MAX_BEAMS", 10**6)
    np.testing.assert_array_equal(chunked.items, whole.rank(gen, sids, histories, 5, None).items)


def test_catalog_smaller_than_k_pads():
    sids = SIDTable(np.array([[0, 1], [1, 0], [0, 1]]), (2, 2))
    r = BeamDecoder(BeamConfig(beam_width=3)).rank(TableGenerator((2, 2)), sids, random_histories(2, 3), 5, None)
    assert sorted(r.items[0, :3].tolist()) == [0, 1, 2] and r.items[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(r.scores[0, 3:]).all()


def test_rejects_a_generator_without_the_incremental_interface():
    with pytest.raises(SidkitError, match="capability stepwise-generation .*; object lacks it"):
        BeamDecoder().rank(object(), random_sids(5), random_histories(1, 5), 3, None)


def test_registered_with_defaults():
    decoder = get_registry().build("decoder", "beam", None)
    assert isinstance(decoder, Decoder)
    assert (decoder.config.beam_width, decoder.config.constrained) == (20, True)


def test_decoder_only_decoding_logs_no_transformers_deprecation():
    """The KV cache is read under its current name: transformers' "`past_key_values` ...
    deprecated" warning (logged once per process) never appears when decoding."""
    import subprocess
    import sys

    code = (
        "from seq_toys import built, random_histories, random_sids\n"
        "from sidkit.context import Context\n"
        "from sidkit_grid.decoding.beam import BeamDecoder\n"
        "from sidkit_grid.configs import BeamConfig\n"
        "sids = random_sids(30, (4, 4, 4), seed=0)\n"
        "gen = built('decoder-only', sids)\n"
        "BeamDecoder(BeamConfig(beam_width=5)).rank(gen, sids, random_histories(4, 30, seed=1), 5, Context())\n"
    )
    tests = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tests, timeout=300,
                          env={**os.environ, "PYTHONPATH": tests, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "deprecated" not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("order", ["index", "random"])
@pytest.mark.parametrize("sizes", [(4, 3, 5), (256, 256, 256, 256), (2**40, 2**30), (1, 7)])
def test_sid_order_packed_key_equals_the_lexsort(order, sizes):
    from sidkit_grid.decoding.prefix_index import sid_order

    rng = np.random.default_rng(3)
    codes = np.stack([rng.integers(0, min(w, 6), 2000) for w in sizes], axis=1)  # many shared SIDs
    tie = np.random.default_rng(11).permutation(2000) if order == "random" else np.arange(2000)
    want = np.lexsort((tie, *codes.T[::-1]))  # what PrefixIndex sorted with before
    assert np.array_equal(sid_order(codes, sizes, order, seed=11), want)


# -- leaving history items out -----------------------------------------------------------------------
def test_covered_leaves_lists_sids_whose_every_item_is_in_the_history():
    codes = np.array([[0, 1], [2, 2], [0, 1], [1, 0], [2, 0]])  # items 0 and 2 share SID (0, 1)
    index = PrefixIndex(SIDTable(codes, (3, 3)))
    leaf = index.lookup(torch.from_numpy(codes)).tolist()
    covered = index.covered_leaves(Ragged.from_lists([[0], [0, 2, 1, 1], [], [4, 3]]))
    pad = index.n_sids
    assert covered.tolist() == [[pad, pad], sorted([leaf[0], leaf[1]]), [pad, pad], sorted([leaf[3], leaf[4]])]


@pytest.mark.parametrize("name", GENERATORS)
def test_exclude_history_equals_exhaustive_scoring_without_the_history_items(name):
    """Beams >= valid SIDs: the ranking with ``exclude_history`` is the exhaustive one with the
    history's items struck out, also for items that share a SID with a history item."""
    base = random_sids(24, seed=3)
    codes = np.concatenate([base.codes, base.codes[[0, 0, 5]]])  # items 24, 25 share item 0's SID
    sids = SIDTable(codes, base.codebook_sizes)
    gen = built(name, sids)
    histories = Ragged.from_lists([[0, 3, 7], [24, 25, 0, 9], [5], [1, 2, 1]])
    unique = np.unique(codes, axis=0)
    k = 12
    r = BeamDecoder(BeamConfig(beam_width=len(unique), exclude_history=True)).rank(gen, sids, histories, k, None)
    per_sid = np.stack(
        [gen.sequence_log_probs(histories.take(np.full(len(unique), i)), sids, unique).numpy() for i in range(4)]
    )
    full_items, full_scores = exhaustive(per_sid, sids, unique, len(codes))
    for row in range(4):
        keep = ~np.isin(full_items[row], histories[row])
        np.testing.assert_array_equal(r.items[row], full_items[row][keep][:k])
        np.testing.assert_allclose(r.scores[row], full_scores[row][keep][:k], atol=1e-5)
        assert not set(r.items[row].tolist()) & set(histories[row].tolist())


def test_exclude_history_keeps_k_items_when_the_favourite_sids_are_in_the_history():
    """A narrow beam still returns k new items: the history's SIDs are struck out before the
    last level's top-k, not after it (a post-filter would leave the row short)."""
    sids = random_sids(40, sizes=(5, 5, 5), seed=5)
    gen = TableGenerator((5, 5, 5), seed=1)
    plain = BeamDecoder(BeamConfig(beam_width=4)).rank(gen, sids, random_histories(2, 40), 4, None)
    histories = Ragged.from_lists([plain.items[0].tolist(), plain.items[1, :2].tolist()])
    for constrained in (True, False):
        r = BeamDecoder(BeamConfig(beam_width=4, constrained=constrained, exclude_history=True)).rank(
            gen, sids, histories, 4, None
        )
        assert (r.items >= 0).all()
        assert not set(r.items[0].tolist()) & set(plain.items[0].tolist())
        assert not set(r.items[1].tolist()) & set(plain.items[1, :2].tolist())
        assert r.items[1, :2].tolist() == plain.items[1, 2:].tolist()  # the rest keep their order
