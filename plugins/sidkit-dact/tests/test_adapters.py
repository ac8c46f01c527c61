"""The four sid-updaters through the registry: who keeps which SID, what they never change,
the report, the runner's save/load round trip and config errors."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pytest
from sidkit.config import structure
from sidkit.context import Context
from sidkit.errors import SidkitError
from sidkit.protocols import TokenizerAdapter
from sidkit.registry import get_registry
from sidkit.types import ItemEmbeddings, SIDTable

N_OLD = 400  # the previous table covers items 0..399; items 400..479 are new this period
QUICK = {"dact": {"steps": 20, "batch_size": 256}, "tok-finetune": {"steps": 20}, "reformer": {"steps": 20}, "tok-frozen": {}}


def digest(tokenizer) -> str:
    arrays, _ = tokenizer.state()
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


def build(name: str, **kw):
    spec = get_registry().get("sid-updater", name)
    assert spec.plugin == "sidkit-dact"
    return spec.build(spec.config(**{**QUICK[name], **kw}))


@pytest.fixture
def period(fitted_planted):
    """The previous tokenizer, its table over the first N_OLD items, the new period's
    embeddings of all items and the runner's context."""
    tok, before, after, moved = fitted_planted
    previous = tok.assign(ItemEmbeddings(before.values[:N_OLD], views={k: v[:N_OLD] for k, v in before.views.items()}))
    ctx = Context(seed=0, progress=False, extras={"previous_items": np.arange(N_OLD), "items": np.arange(len(after.values))})
    return tok, previous, after, ctx


@pytest.mark.parametrize("name", list(QUICK))
def test_adapters_never_change_their_inputs_and_cover_every_item(name, period):
    tok, previous, after, ctx = period
    updater = build(name)
    assert isinstance(updater, TokenizerAdapter)
    before = (digest(tok), previous.codes.copy(), after.values.copy(), after.views["collaborative"].copy())
    adapted, table, report = updater.adapt(tok, previous, after, ctx)
    assert (digest(tok), previous.codes.tobytes(), after.values.tobytes(), after.views["collaborative"].tobytes()) == (
        before[0], before[1].tobytes(), before[2].tobytes(), before[3].tobytes(),
    )
    assert type(adapted) is type(tok) and adapted is not tok
    assert table.n_items == len(after.values) and table.codebook_sizes == previous.codebook_sizes
    assert len(np.unique(table.codes, axis=0)) == table.n_items  # no two items share a SID
    assert report["rows"] == "refreshed" and report["collisions"] == 0
    assert (report["n_old_items"], report["n_new_items"]) == (N_OLD, len(after.values) - N_OLD)
    assert len(report["change_rate_per_layer"]) == previous.n_levels and -1 <= report["cf_cosine"] <= 1
    with pytest.raises(SidkitError, match="adapts the tokenizer itself"):
        updater.update(previous, previous, ctx)


def test_tok_frozen_keeps_every_old_sid_and_the_old_tokenizer_assigns_new_items(period):
    tok, previous, after, ctx = period
    adapted, table, report = build("tok-frozen").adapt(tok, previous, after, ctx)
    assert digest(adapted) == digest(tok)
    assert np.array_equal(table.codes[:N_OLD], previous.codes) and report["change_rate"] == 0.0
    assert np.array_equal(table.codes[N_OLD:, :-1], tok.codes(after)[N_OLD:])


def test_tok_finetune_reassigns_every_item_and_reformer_only_new_ones(period):
    tok, previous, after, ctx = period
    naive, naive_table, naive_report = build("tok-finetune").adapt(tok, previous, after, ctx)
    assert digest(naive) != digest(tok)
    assert np.array_equal(naive_table.codes[:, :-1], naive.codes(after))  # every item's fine-tuned codes
    assert naive_report["n_kept"] == 0 and naive_report["steps"] == 20
    reformer, table, report = build("reformer").adapt(tok, previous, after, ctx)
    assert digest(reformer) == digest(naive)  # the same fine-tuning
    assert np.array_equal(table.codes[:N_OLD], previous.codes) and report["change_rate"] == 0.0
    assert np.array_equal(table.codes[N_OLD:, :-1], reformer.codes(after)[N_OLD:])


def test_dact_keeps_the_whole_old_sid_of_items_whose_layer1_code_held(period):
    tok, previous, after, ctx = period
    adapted, table, report = build("dact", steps=60, lr=1e-3).adapt(tok, previous, after, ctx)
    new = adapted.codes(after)
    held = new[:N_OLD, 0] == previous.codes[:, 0]
    assert np.array_equal(table.codes[:N_OLD][held], previous.codes[held])
    assert np.array_equal(table.codes[:N_OLD][~held, :-1], new[:N_OLD][~held])
    assert np.array_equal(table.codes[N_OLD:, :-1], new[N_OLD:])
    assert report["n_kept"] == int(held.sum()) and report["layer1_change_rate"] == pytest.approx(1 - held.mean(), abs=1e-6)
    assert {"confidence_mean", "kl_last", "loss_first", "loss_last", "collisions_repaired", "seconds"} <= set(report)


def test_the_runners_save_and_load_carry_cdim_to_the_next_period(period, tmp_path):
    tok, previous, after, ctx = period
    adapted, table, _ = build("dact").adapt(tok, previous, after, ctx)
    adapted.save(tmp_path)
    restored = copy.deepcopy(tok)  # the runner loads into a copy of the previous tokenizer
    restored.load(tmp_path)
    assert digest(restored) == digest(adapted) != digest(tok)
    assert np.array_equal(restored.codes(after), adapted.codes(after))
    cdim = {k: v for k, v in restored.state()[0].items() if ".cdim." in k}
    assert cdim and any(not np.array_equal(v, tok.state()[0][k]) for k, v in cdim.items())  # trained, kept


def test_dact_needs_the_dact_tokenizer_and_the_collaborative_view(period, ctx):
    tok, previous, after, pctx = period
    letter_spec = get_registry().get("tokenizer", "letter")
    letter = letter_spec.build(letter_spec.config(hidden_dims=(16,), latent_dim=16, levels=2, codebook_size=32, steps=5,
                                                  input="values", cf_weight=0.0, dedup_size=64))
    letter.fit(ItemEmbeddings(after.values[:N_OLD]), ctx)
    with pytest.raises(SidkitError, match="needs a fitted tokenizer 'dact'.*got tokenizer 'letter'"):
        build("dact").adapt(letter, letter.assign(ItemEmbeddings(after.values[:N_OLD])), after, pctx)
    with pytest.raises(SidkitError, match=r"views\['collaborative'\].*content\+collab.*views: none"):
        build("dact").adapt(tok, previous, ItemEmbeddings(after.values), pctx)
    bad = Context(seed=0, extras={"previous_items": np.arange(N_OLD), "items": np.arange(10)})
    with pytest.raises(SidkitError, match="lists 10 items for 480 embedding rows"):
        build("tok-frozen").adapt(tok, previous, after, bad)
    with pytest.raises(SidkitError, match="were not made by this tokenizer"):
        build("tok-frozen").adapt(tok, SIDTable(previous.codes[:, :2], previous.codebook_sizes[:2]), after, pctx)


@pytest.mark.parametrize(
    ("kind", "name", "table", "message"),
    [
        ("sid-updater", "dact", {"rho": 0.0}, "sid-updater.rho: rho must be > 0.0 and <= 1.0"),
        ("sid-updater", "dact", {"steps": -1}, "sid-updater.steps: steps must be >= 0"),
        ("sid-updater", "dact", {"warmup": 1.0}, "sid-updater.warmup: warmup must be >= 0.0 and < 1.0"),
        ("sid-updater", "dact", {"tau": 1.0}, "sid-updater.tau: unknown key 'tau'"),
        ("sid-updater", "tok-finetune", {"lr": 0.0}, "sid-updater.lr: lr must be > 0.0"),
        ("tokenizer", "dact", {"cdim_slots": 0}, "tokenizer.cdim_slots: cdim_slots must be >= 1"),
        ("tokenizer", "dact", {"dedup": "none"}, "tokenizer.dedup_size: dedup_size needs dedup = 'digit'"),
    ],
)
def test_bad_config_values_name_the_key(kind, name, table, message):
    spec = get_registry().get(kind, name)
    _, issues = structure(table, spec.config, kind)
    assert any(str(issue).startswith(message) for issue in issues), [str(i) for i in issues]


def test_dact_tokenizer_defaults_are_dacts():
    spec = get_registry().get("tokenizer", "dact")
    cfg = spec.config()
    assert spec.plugin == "sidkit-dact"
    assert (cfg.hidden_dims, cfg.latent_dim, cfg.levels, cfg.codebook_size) == ((512, 256, 128, 64), 32, 3, 256)
    assert (cfg.similarity, cfg.cf_weight, cfg.div_weight, cfg.sinkhorn_train, cfg.collision_rounds) == ("cos", 0.02, 0.0, False, 0)
    assert (cfg.dedup, cfg.dedup_size, cfg.cdim_slots, cfg.cdim_hidden, cfg.cdim_tau) == ("digit", 256, 32, 64, 0.1)
    up = get_registry().get("sid-updater", "dact").config()
    assert (up.alpha, up.gamma, up.tau_g, up.anchor, up.rho, up.lr, up.batch_size) == (0.1, 5.0, 1.0, 1.0, 0.3, 1e-4, 1024)


def test_dact_tokenizer_assigns_with_the_fixed_digit_vocabulary(fitted_planted):
    tok, before, _, _ = fitted_planted
    table = tok.assign(before)
    assert table.codebook_sizes == (32, 32, 64)  # dedup_size = 64 in the test config, not the largest group
    assert len(np.unique(table.codes, axis=0)) == table.n_items


def test_reports_split_layer1_changes_by_the_datas_planted_moves(fitted_planted):
    """With ``dataset.meta["moved_items"]`` (the synthetic loader's item drift) the report gives
    the layer-1 change rate of the moved and of the unmoved old items; current rows are read
    through ``ctx.extras["items"]`` (here shuffled) as dataset indices."""
    from types import SimpleNamespace

    tok, before, after, moved = fitted_planted
    moved_items = np.flatnonzero(moved) if moved.dtype == bool else np.asarray(moved)
    rng = np.random.default_rng(0)
    items = rng.permutation(len(after.values))  # row i of the period is dataset item items[i]
    shuffled = ItemEmbeddings(after.values[items], views={k: v[items] for k, v in after.views.items()})
    prev_items = items[:N_OLD]
    previous = tok.assign(ItemEmbeddings(shuffled.values[:N_OLD], views={k: v[:N_OLD] for k, v in shuffled.views.items()}))
    ctx = Context(seed=0, progress=False, dataset=SimpleNamespace(meta={"moved_items": moved_items}),
                  extras={"previous_items": prev_items, "items": items})
    _, _, frozen = build("tok-frozen").adapt(tok, previous, shuffled, ctx)
    assert frozen["layer1_change_moved"] == 0.0 and frozen["layer1_change_unmoved"] == 0.0
    _, table, naive = build("tok-finetune").adapt(tok, previous, shuffled, ctx)
    changed = table.codes[:N_OLD, 0] != previous.codes[:, 0]
    is_moved = np.isin(prev_items, moved_items)
    assert naive["layer1_change_moved"] == pytest.approx(changed[is_moved].mean(), abs=1e-6)
    assert naive["layer1_change_unmoved"] == pytest.approx(changed[~is_moved].mean(), abs=1e-6)
    _, _, plain = build("tok-frozen").adapt(tok, previous, shuffled, Context(seed=0, progress=False, extras=ctx.extras))
    assert "layer1_change_moved" not in plain  # no planted drift: no such entries
