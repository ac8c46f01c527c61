"""Training in real processes: SIGKILL and resume, and DDP under torchrun (gloo, 2 ranks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from sidkit.training import OptimConfig, TrainConfig, fit

ARGS = {"n": 90, "epochs": 4, "batch_size": 16, "checkpoint_every": 4, "dropout": 0.3}


def _params(prefix, rank=0):
    return load_file(f"{prefix}-rank{rank}.safetensors")


def _report(prefix, rank=0):
    with open(f"{prefix}-rank{rank}.json") as f:
        return json.load(f)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sigkill_then_resume_matches_unbroken_run(script, tmp_path, precision):
    # 6 steps per epoch, 24 in all; checkpoints at steps 4, 6, 8, 12, 16, 18, 20
    args = {**ARGS, "precision": precision}
    killed = tmp_path / "killed"
    reference = subprocess.Popen(  # the unbroken run, alongside
        script.cmd({**args, "workdir": str(tmp_path / "ref"), "out": str(tmp_path / "ref")}),
        env=script.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:  # mid-step 11 of 24, after the checkpoint of step 8, while the reference runs
        script.kill({**args, "workdir": str(killed), "out": str(tmp_path / "never"), "kill_at": 11})
    except BaseException:
        reference.kill()
        raise
    out, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, out + err
    assert (killed / "checkpoints" / "latest.json").exists() and not (tmp_path / "never-rank0.json").exists()

    script.run({**args, "workdir": str(killed), "out": str(tmp_path / "resumed")})
    resumed, ref = _report(tmp_path / "resumed"), _report(tmp_path / "ref")
    assert resumed["calls"] == 24 - 8 and ref["calls"] == 24 and resumed["global_step"] == 24
    got, want = _params(tmp_path / "resumed"), _params(tmp_path / "ref")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert [r["acc"] for r in resumed["history"]] == [r["acc"] for r in ref["history"]]


def test_ddp_two_ranks_match_single_process(script, task, tmp_path):
    # 75 examples, batches of 16: the last batch (11) splits 6/5, exercising the shard weighting
    args = {"n": 75, "epochs": 3, "batch_size": 16, "checkpoint_every": 2, "dropout": 0.0}
    script.run({**args, "workdir": str(tmp_path / "ddp"), "out": str(tmp_path / "ddp")}, torchrun=2, timeout=180)
    rank0, rank1 = _params(tmp_path / "ddp", 0), _params(tmp_path / "ddp", 1)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    rep0, rep1 = _report(tmp_path / "ddp", 0), _report(tmp_path / "ddp", 1)
    numbers = lambda rep: [{k: r[k] for k in ("epoch", "train_loss", "lr", "acc")} for r in rep["history"]]  # noqa: E731
    assert numbers(rep0) == numbers(rep1)  # validation ran on rank 0 and was broadcast
    assert rep0["calls"] == rep1["calls"] == 15 and rep0["global_step"] == 15
    assert (tmp_path / "ddp" / "checkpoints" / "latest.json").exists()

    # the same global batches in one process
    torch.set_num_threads(1)
    x, y = task.make_data(75)
    vx, vy = task.make_data(64, seed=1)
    model = task.make_model(dropout=0.0)
    cfg = TrainConfig(epochs=3, batch_size=16, optim=OptimConfig(lr=0.05), early_stopping_patience=100, progress=False)
    result = fit(
        model, loss_fn=task.loss_fn, n_examples=75, make_batch=task.batch_maker(x, y), cfg=cfg, seed=7,
        device="cpu", validate=task.accuracy_on(vx, vy), metric_name="acc",
    )  # fmt: skip
    single = model.state_dict()
    for k in single:
        torch.testing.assert_close(rank0[k], single[k], atol=1e-5, rtol=0)
    assert [r["train_loss"] for r in rep0["history"]] == pytest.approx(
        [r["train_loss"] for r in result.history], abs=1e-5
    )
    assert result.best_epoch == rep0["best_epoch"]
