"""Per-parameter-group optimizer settings (``OptimConfig.groups``): grouping by name prefix,
per-group rates scaled by the schedule, exact resume, and old fingerprints kept."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import load_file
from sidkit.config.structure import structure
from sidkit.training import (
    OptimConfig,
    ParamGroupConfig,
    SchedulerConfig,
    TrainConfig,
    config_fingerprint,
    param_groups,
)
from test_loop import Interrupted
from test_loop import _fit as fit_task

GROUPS = {"net.3.": ParamGroupConfig(lr=0.01, weight_decay=0.5)}
CFG = TrainConfig(
    epochs=3,
    batch_size=16,
    optim=OptimConfig(lr=0.05, weight_decay=0.1, groups=GROUPS),
    scheduler=SchedulerConfig(name="cosine", warmup_steps=2),
    checkpoint_every_steps=4,
    progress=False,
)


def test_longest_prefix_wins_and_the_rest_keep_the_base_settings(task):
    model = task.make_model()  # net.0 (Linear), net.1 (ReLU), net.2 (Dropout), net.3 (Linear)
    cfg = OptimConfig(lr=0.05, groups={"net.": ParamGroupConfig(lr=0.2), "net.3.weight": ParamGroupConfig(weight_decay=0.3)})
    groups = param_groups(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [g["name"] for g in groups] == ["net.", "net.3.weight"]  # no parameter is left for the base group
    assert sorted(names[id(p)] for p in groups[0]["params"]) == ["net.0.bias", "net.0.weight", "net.3.bias"]
    assert [names[id(p)] for p in groups[1]["params"]] == ["net.3.weight"]
    assert groups[0]["lr"] == 0.2 and "weight_decay" not in groups[0]
    assert groups[1]["weight_decay"] == 0.3 and "lr" not in groups[1]  # unset: the optimizer's own


def test_a_prefix_matching_nothing_is_an_error_naming_the_parameters(task):
    with pytest.raises(ValueError, match=r"optim.groups: 'tokenizer\.' matches no parameter.*'net\.'"):
        param_groups(task.make_model(), OptimConfig(groups={"tokenizer.": ParamGroupConfig(lr=1e-4)}))


def test_config_errors_name_the_key():
    _, issues = structure({"optim": {"groups": {"tokenizer.": {"lrr": 1e-4}}}}, TrainConfig, "train")
    assert issues[0].path == "train.optim.groups['tokenizer.'].lrr" and "did you mean 'lr'" in issues[0].message
    _, issues = structure({"optim": {"groups": {"tokenizer.": {"lr": -1}}}}, TrainConfig, "train")
    assert issues[0].path == "train.optim.groups['tokenizer.']" and "lr must be > 0.0, got -1.0" in issues[0].message
    with pytest.raises(ValueError, match="groups keys must be non-empty"):
        OptimConfig(groups={"": ParamGroupConfig(lr=1.0)})


def _fit(task, cfg=CFG, **kwargs):
    return fit_task(task, cfg, validate=False, **kwargs)


def test_each_group_trains_at_its_own_rate_scaled_by_the_schedule(task):
    model, result, _ = _fit(task)
    rates = [r["lr_groups"] for r in result.history]
    base = [r["lr"] for r in result.history]
    assert [set(r) for r in rates] == [{"", "net.3."}] * 3
    for r, lr in zip(rates, base, strict=True):  # one factor for both groups
        assert r[""] == lr and r["net.3."] == pytest.approx(lr * 0.01 / 0.05)
    assert base[0] < 0.05 and base[-1] == pytest.approx(0.0, abs=1e-12)  # cosine to 0


def test_interrupted_run_with_groups_resumes_bitwise(task, tmp_path):
    ref, ref_result, _ = _fit(task, workdir=tmp_path / "ref")
    with pytest.raises(Interrupted):  # 6 steps per epoch: step 11 is mid-epoch 2, after the checkpoint of step 8
        _fit(task, workdir=tmp_path / "run", interrupt_at=11)
    model, result, calls = _fit(task, workdir=tmp_path / "run")
    assert calls == 18 - 8
    sa, sb = ref.state_dict(), model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [r["lr_groups"] for r in result.history] == [r["lr_groups"] for r in ref_result.history]


def test_fingerprint_without_groups_is_unchanged_and_groups_change_it():
    plain = TrainConfig(epochs=2)
    fp = config_fingerprint(plain, seed=0, n_examples=10, world_size=1)
    assert fp == "4e0820dfce4e9970246e"  # what a checkpoint written before groups existed holds
    grouped = TrainConfig(epochs=2, optim=OptimConfig(groups={"a.": ParamGroupConfig(lr=0.1)}))
    assert config_fingerprint(grouped, seed=0, n_examples=10, world_size=1) != fp


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume_with_groups_matches_unbroken_run(script, tmp_path):
    args = {"n": 90, "epochs": 3, "batch_size": 16, "checkpoint_every": 4, "dropout": 0.3,
            "groups": {"net.3.": {"lr": 0.005, "weight_decay": 0.2}}}  # fmt: skip
    killed = tmp_path / "killed"
    script.kill({**args, "workdir": str(killed), "out": str(tmp_path / "never"), "kill_at": 11})  # after step 8's checkpoint
    script.run({**args, "workdir": str(tmp_path / "ref"), "out": str(tmp_path / "ref")})
    script.run({**args, "workdir": str(killed), "out": str(tmp_path / "resumed")})
    with open(f"{tmp_path / 'resumed'}-rank0.json") as f:
        resumed = json.load(f)
    with open(f"{tmp_path / 'ref'}-rank0.json") as f:
        ref = json.load(f)
    assert resumed["calls"] == 18 - 8 and ref["calls"] == 18
    got, want = load_file(f"{tmp_path / 'resumed'}-rank0.safetensors"), load_file(f"{tmp_path / 'ref'}-rank0.safetensors")
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert [r["lr_groups"] for r in resumed["history"]] == [r["lr_groups"] for r in ref["history"]]
    assert ref["history"][0]["lr_groups"] == {"": 0.05, "net.3.": 0.005}
