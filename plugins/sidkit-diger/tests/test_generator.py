"""Generator ``diger`` end to end on a toy: returned SIDs, save/load, exact resume,
diagnostics, configuration and context errors, registration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diger_toys import tiny_config, tiny_tokenizer
from sidkit.config.structure import structure
from sidkit.context import Context
from sidkit.errors import SidkitError
from sidkit.protocols import Generator
from sidkit_diger.config import DigerConfig, DigerTokenizerConfig
from sidkit_diger.generator import DigerGenerator
from sidkit_diger.tokenizer import DigerTokenizer
from sidkit_grid.api import RQVAEConfig, RQVAETokenizer
from sidkit_grid.configs import BeamConfig
from sidkit_grid.decoding.beam import BeamDecoder

DECODER = BeamDecoder(BeamConfig(beam_width=10))


def recall(gen, sids, split) -> float:
    ranks = DECODER.rank(gen, sids, split.valid.histories, 10, None)
    return float((ranks.items == split.valid.targets.values[:, None]).any(1).mean())


def context(split, tok, emb, workdir=None, validate=True):
    def score(model, current=None):
        assert current is not None  # diger validates with the SIDs of the moment
        r = recall(model, current, split)
        return {"recall@10": r, "ndcg@10": r}

    return Context(split=split, embeddings=emb, tokenizer=tok, validate=score if validate else None,
                   progress=False, workdir=workdir)  # fmt: skip


def test_returned_sids_are_the_argmin_of_the_saved_state_and_survive_reload(toy, tmp_path):
    split, tok, emb = toy
    gen = DigerGenerator(tiny_config(epochs=3))
    sids = tok.assign(emb)
    out = gen.fit(sids, context(split, tok, emb, tmp_path / "work"))
    assert isinstance(gen, Generator) and out.codebook_sizes == (8, 8, 8)
    assert (out.codes != sids.codes).any(), "joint training moved no SID: the test proves nothing"
    best = max(r["ndcg@10"] for r in gen.history)
    assert gen.history[[r["ndcg@10"] for r in gen.history].index(best)]["epoch"] is not None
    x = tok.input_matrix(emb)
    assert np.array_equal(gen.assign_matrix(x).codes, out.codes)
    assert np.array_equal(gen.current_sids().codes, out.codes)
    gen.save(tmp_path / "state")
    fresh = DigerGenerator(tiny_config(epochs=3))
    fresh.load(tmp_path / "state")
    assert np.array_equal(fresh.current_sids().codes, out.codes)
    assert np.array_equal(fresh.assign_matrix(x).codes, out.codes)
    a = DECODER.rank(gen, out, split.valid.histories, 10, None).items
    b = DECODER.rank(fresh, out, split.valid.histories, 10, None).items
    assert np.array_equal(a, b)
    report = json.loads((tmp_path / "work" / "diger.json").read_text())["epochs"]
    assert [r["epoch"] for r in report] == [1, 2, 3]
    keys = {"drift_incremental", "drift_cumulative", "agreement", "hot_share", "used", "perplexity", "sigma",
            "changed_per_level_cumulative", "prefix_ari_cumulative"}  # fmt: skip
    assert keys <= set(report[0]) and report[0]["drift_cumulative"] == report[0]["drift_incremental"]
    kept = report[[r["ndcg@10"] for r in gen.history].index(best)]  # the epoch whose SIDs fit returned
    levels = gen.tokenizer_module.levels  # the semantic levels (the conflict level is not compared)
    assert kept["changed_per_level_cumulative"] == [float((sids.codes[:, lv] != out.codes[:, lv]).mean()) for lv in range(levels)]
    assert len(kept["prefix_ari_cumulative"]) == levels and all(-1.0 <= a <= 1.0 for a in kept["prefix_ari_cumulative"])
    assert sorted(p.name for p in (tmp_path / "work" / "heatmaps").iterdir()) == [
        f"epoch-{e:03d}.png" for e in range(4)
    ]


def test_before_any_step_the_refreshed_sids_are_the_tokenizers(toy):
    split, tok, emb = toy
    gen = DigerGenerator(tiny_config(epochs=1, train={"max_steps": 1}, tokenizer_lr=1e-9))
    sids = tok.assign(emb)
    out = gen.fit(sids, context(split, tok, emb, validate=False))
    assert np.array_equal(out.codes, sids.codes)  # same argmin and conflict numbering as the tokenizer stage


class Interrupted(Exception):
    pass


def test_killed_run_resumes_to_the_same_sids_and_weights(toy, tmp_path):
    split, tok, emb = toy
    sids = tok.assign(emb)
    cfg = tiny_config(epochs=3, noise="both", train={"checkpoint_every_steps": 2})
    ref = DigerGenerator(cfg)
    ref_sids = ref.fit(sids, context(split, tok, emb, tmp_path / "ref"))

    victim = DigerGenerator(cfg)
    calls = [0]
    real = victim._loss

    def dying(model, batch):
        calls[0] += 1
        if calls[0] == 7:  # mid-epoch 2, after the checkpoint of step 6
            raise Interrupted
        return real(model, batch)

    victim._loss = dying
    with pytest.raises(Interrupted):
        victim.fit(sids, context(split, tok, emb, tmp_path / "run"))
    resumed = DigerGenerator(cfg)
    out = resumed.fit(sids, context(split, tok, emb, tmp_path / "run"))
    assert np.array_equal(out.codes, ref_sids.codes)
    a, b = ref.joint.state_dict(), resumed.joint.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["diger"] for r in resumed.history] == [r["diger"] for r in ref.history]


def test_detached_bridge_trains_and_reassigns_each_epoch(toy):
    split, tok, emb = toy
    gen = DigerGenerator(tiny_config(epochs=2, bridge="detached", tokenizer_lr=1e-2))
    out = gen.fit(tok.assign(emb), context(split, tok, emb, validate=False))
    assert np.array_equal(out.codes, gen.assign_matrix(tok.input_matrix(emb)).codes)
    assert gen.history[-1]["diger"]["drift_cumulative"] > 0


def test_any_rqvae_tokenizer_with_a_fixed_conflict_level_works_and_others_are_refused(toy):
    split, _, emb = toy
    rq = RQVAETokenizer(RQVAEConfig(levels=2, codebook_size=8, hidden_dims=(32,), latent_dim=8, steps=50, batch_size=30))
    rq.fit(emb, Context(progress=False))
    with pytest.raises(SidkitError, match=r"set dedup_size \(DIGER: 256\) in \[tokenizer\].*rqvae has dedup_size = 0"):
        DigerGenerator(tiny_config()).fit(rq.assign(emb), context(split, rq, emb))
    rq = RQVAETokenizer(attrs_evolve(rq.config, dedup_size=8))
    rq.fit(emb, Context(progress=False))
    out = DigerGenerator(tiny_config(epochs=1)).fit(rq.assign(emb), context(split, rq, emb, validate=False))
    assert out.codebook_sizes == (8, 8, 8)
    with pytest.raises(SidkitError, match="copy of an RQ-VAE tokenizer .* ctx.tokenizer is object"):
        DigerGenerator(tiny_config()).fit(rq.assign(emb), context(split, object(), emb))
    tok, _ = tiny_tokenizer(levels=3)
    with pytest.raises(SidkitError, match="are not the tokenizer's"):
        DigerGenerator(tiny_config()).fit(rq.assign(emb), context(split, tok, emb))


def attrs_evolve(cfg, **kw):
    import attrs

    return attrs.evolve(cfg, **kw)


@pytest.mark.parametrize(
    "table, path, message",
    [
        ({"noise": "frq"}, "generator.noise", "noise must be one of 'frqud', 'sdud', 'both', 'none', got 'frq' (did you mean 'frqud'?)"),
        ({"bridge": "hard"}, "generator.bridge", "bridge must be one of 'soft', 'detached'"),
        ({"tau": 0}, "generator.tau", "tau must be > 0.0"),
        ({"ema_decay": 1.0}, "generator.ema_decay", "ema_decay must be >= 0.0 and < 1.0"),
        ({"user_buckets": 4}, "generator.user_buckets", "user_buckets must be 0 for diger"),
        ({"train": {"optim": {"groups": {"tokenizer.": {"lr": 0}}}}}, "generator.train", "lr must be > 0.0"),
    ],
)
def test_bad_config_values_name_the_key(table, path, message):
    _, issues = structure(table, DigerConfig, "generator")
    assert issues and issues[0].path.startswith(path) and message in issues[0].message


def test_defaults_and_a_partial_optim_table_keep_the_tokenizer_group():
    cfg, issues = structure({"train": {"optim": {"lr": 2e-3}}}, DigerConfig, "generator")
    assert not issues and cfg.train.optim.lr == 2e-3 and cfg.train.optim.groups["tokenizer."].lr == 1e-6
    d = DigerConfig()
    assert (d.encoder_layers, d.decoder_layers, d.d_model, d.d_ff, d.num_heads, d.d_kv) == (6, 6, 128, 512, 4, 64)
    assert (d.tau, d.sdud_lambda, d.ema_decay, d.hot_ratio, d.train.optim.weight_decay) == (2.0, 1.7, 0.99, 1.5, 0.05)
    t = DigerTokenizerConfig()
    assert (t.levels, t.codebook_size, t.dedup, t.dedup_size) == (3, 256, "digit", 256)
    with pytest.raises(ValueError, match="dedup_size needs dedup = 'digit'"):
        DigerTokenizerConfig(dedup="random")


def test_plugin_registers_both_components(sidkit_registry):
    from sidkit_diger import plugin

    sidkit_registry.add_plugin(plugin, "sidkit-diger")
    assert isinstance(sidkit_registry.build("tokenizer", "diger"), DigerTokenizer)
    assert isinstance(sidkit_registry.build("generator", "diger"), DigerGenerator)
    spec = sidkit_registry.get("generator", "diger")
    assert spec.provides == ("stepwise-generation",)


def test_doc_page_lists_every_option():
    from pathlib import Path

    import attrs
    from sidkit_grid.api import TigerConfig

    doc = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "diger.md"
    if not doc.exists():
        pytest.skip(f"{doc} not found (not a source checkout)")
    text = doc.read_text(encoding="utf-8")
    own = [f.name for f in attrs.fields(DigerConfig) if f.name not in {g.name for g in attrs.fields(TigerConfig)}]
    changed = ["encoder_layers", "decoder_layers", "d_ff", "num_heads", "dedup_size", "train"]
    missing = [name for name in own + changed if f"`{name}`" not in text]
    assert not missing, f"diger.md does not document {missing}"


def test_plugin_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sidkit_diger.plugin; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_position_windows_match_tigers_loss_and_reach_the_codebooks(toy):
    """``windows = "all"``: the joint model's L_gen over a batch of windows equals tiger's
    all-position loss on the same T5 and SIDs (same layout, masks and recency bias), and
    under the soft bridge it reaches the codebooks."""
    split, tok, emb = toy
    gen = DigerGenerator(tiny_config(epochs=1, windows="all", train={"max_steps": 1}, tokenizer_lr=1e-9))
    out = gen.fit(tok.assign(emb), context(split, tok, emb, validate=False))
    assert gen.causal_encoder and gen.context_bos
    windows = gen.training_samples(split.train)
    rows = np.arange(min(len(windows), 16))
    gen.joint.train()  # dropout 0: deterministic
    gen.joint.zero_grad()
    terms = gen.joint(gen._batch(windows, rows))
    reference = gen.loss(gen.batch(out, windows, rows), gen.model)  # tiger's window loss, the SIDs of now
    torch.testing.assert_close(terms["gen"], reference, rtol=1e-5, atol=1e-5)
    terms["gen"].backward()
    assert float(gen.tokenizer_module.codebooks.grad.abs().sum()) > 0
