"""Registration, defaults, config errors, the doc page and cheap imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from sidkit.config.structure import structure
from sidkit.registry import get_registry

DOC = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "intrr.md"


def test_registered_with_the_papers_defaults(make_sids):
    spec = get_registry().get("generator", "intrr")
    assert spec.plugin == "sidkit-intrr" and spec.provides == ("stepwise-generation",)
    cfg = spec.config()
    assert (cfg.d_model, cfg.num_layers, cfg.num_heads, cfg.dropout, cfg.max_len) == (256, 4, 8, 0.15, 30)
    assert (cfg.item_dim, cfg.redistribution, cfg.aln_weight, cfg.windows) == (512, "ste", 0.1, "all")
    assert cfg.user_teacher_forcing and cfg.shared_ran
    assert (cfg.train.batch_size, cfg.train.optim.name, cfg.train.optim.lr, cfg.train.optim.weight_decay) == (
        512, "adam", 1e-3, 1e-4,
    )  # fmt: skip
    gen = spec.build(cfg)
    sids = make_sids(50, sizes=(128, 128, 128, 3))  # 3 x 128 codes + a de-dup level
    gen.build(sids)
    net = gen.model
    assert [tuple(b.shape) for b in net.ran.codebooks] == [(128, 256)] * 3 + [(3, 256)]
    assert len(net.ran.mlps) == 3 and net.ran.mlps[0][0].in_features == 512 and net.ran.mlps[0][0].out_features == 512
    assert tuple(net.uid.weight.shape) == (50, 512)
    assert len(net.backbone.h) == 4 and net.backbone.config.n_head == 8 and net.backbone.wpe.num_embeddings == 31


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"redistribution": "hard"}, "generator.redistribution: redistribution must be one of 'ste', 'soft', 'none'"),
        ({"windows": "sample"}, "generator.windows: windows must be one of 'all', 'sliding'"),
        ({"aln_weight": -0.5}, "generator.aln_weight: aln_weight must be >= 0.0"),
        ({"num_heads": 6}, "generator.num_heads: num_heads must divide d_model=256, got 6"),
        ({"max_len": 0}, "generator.max_len: max_len must be between 1 and 1024"),
        ({"backbone": "hstu"}, "generator.backbone: backbone must be one of 'gpt2'"),
        ({"shared_ran": "yes"}, "generator.shared_ran"),
        ({"item_dims": 4}, "unknown key 'item_dims' (did you mean 'item_dim'?)"),
    ],
)
def test_bad_values_are_reported_under_their_key(table, message):
    cfg, issues = structure(table, get_registry().get("generator", "intrr").config, "generator")
    assert cfg is None and any(message in str(issue) for issue in issues), issues


def test_a_partial_train_table_keeps_the_papers_defaults():
    cfg, issues = structure({"train": {"epochs": 3, "optim": {"lr": 2e-3}}}, get_registry().get(
        "generator", "intrr").config, "generator")  # fmt: skip
    assert not issues
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.optim.name, cfg.train.optim.weight_decay) == (
        3, 512, "adam", 1e-4,
    )  # fmt: skip
    assert cfg.train.optim.lr == 2e-3


def test_doc_page_lists_every_config_option():
    spec = get_registry().get("generator", "intrr")
    text = DOC.read_text(encoding="utf-8")
    missing = [f.name for f in attrs.fields(spec.config) if f"`{f.name}`" not in text]
    assert not missing, f"{DOC.name} does not document: {missing}"


def test_plugin_module_imports_no_torch():
    code = "import sys, sidkit_intrr.plugin\nprint(sorted(m for m in ('torch', 'sidkit_intrr.generator') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_attn_dropout_reaches_the_backbone_and_leaves_earlier_fingerprints_alone(make_sids):
    from sidkit_grid.generators.attention import ATTENTION

    spec = get_registry().get("generator", "intrr")
    sids = make_sids(20, sizes=(8, 8, 2))
    for attn_dropout, expected in ((None, {0.15}), (0.0, {0.0})):
        cfg = spec.config(d_model=32, num_heads=2, d_ff=64, item_dim=16, mlp_hidden=16, attn_dropout=attn_dropout)
        gen = spec.build(cfg)
        gen.build(sids)
        backbone = gen.model.backbone
        assert {m.attn_dropout.p for m in backbone.modules() if hasattr(m, "attn_dropout")} == expected
        assert backbone.config.resid_pdrop == 0.15 and backbone.config._attn_implementation == ATTENTION
        # unset, the network's JSON (and so the checkpoint fingerprint) is what it was before the option
        assert ("attn_dropout" in gen.model.spec.to_json()) == (attn_dropout is not None)
