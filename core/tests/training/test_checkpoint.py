"""Checkpoints: round trip of every part, atomicity, and clear errors for wrong weights."""

from __future__ import annotations

import json
import os

import pytest
import sidkit.training.checkpoint as ckpt_mod
import torch
from safetensors.torch import load_file
from sidkit.errors import ArtifactError
from sidkit.training import (
    OptimConfig,
    SchedulerConfig,
    build_optimizer,
    build_scheduler,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)


def _setup(task, seed=0, hidden=16):
    model = task.make_model(hidden=hidden, seed=seed)
    opt = build_optimizer(model.parameters(), OptimConfig(lr=0.01))
    sched = build_scheduler(opt, SchedulerConfig(name="cosine", warmup_steps=2), total_steps=10)
    return model, opt, sched


def _train(task, model, opt, sched, steps=3):
    x, y = task.make_data(32)
    for _ in range(steps):
        opt.zero_grad()
        task.loss_fn(model, (x, y)).backward()
        opt.step()
        sched.step()


def _states_equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_states_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_round_trip_restores_model_optimizer_scheduler_state_and_rng(task, tmp_path):
    model, opt, sched = _setup(task)
    _train(task, model, opt, sched)
    state = {"epoch": 1, "step_in_epoch": 2, "global_step": 3, "best": None, "history": [{"loss": 0.5}]}
    path = save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, state=state, metadata={"fp": "x"})
    assert latest_checkpoint(tmp_path) == path and path.name.startswith("step-000000003-")
    assert not list(tmp_path.glob(".tmp-*"))
    expected_draw = torch.rand(5)

    model2, opt2, sched2 = _setup(task, seed=1)
    torch.rand(3)  # move the RNG away
    ckpt = load_checkpoint(tmp_path, model=model2, optimizer=opt2, scheduler=sched2)
    assert torch.equal(torch.rand(5), expected_draw)
    assert ckpt.state == state and ckpt.metadata == {"fp": "x"}
    assert _states_equal(model.state_dict(), model2.state_dict())
    assert _states_equal(opt.state_dict(), opt2.state_dict())
    assert sched2.state_dict() == sched.state_dict()
    # both continue identically (same dropout masks)
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        torch.manual_seed(9)
        _train(task, m, o, s, 2)
    assert _states_equal(model.state_dict(), model2.state_dict())


def test_no_pickle_only_safetensors_and_json(task, tmp_path):
    model, opt, sched = _setup(task)
    _train(task, model, opt, sched, 1)
    path = save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, state={"global_step": 1})
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "state.json", "train_state.safetensors"]
    tensors = load_file(path / "train_state.safetensors")
    assert {"optimizer.state.0.exp_avg", "optimizer.state.0.exp_avg_sq", "optimizer.state.0.step"} <= set(tensors)
    doc = json.loads((path / "state.json").read_text())
    assert doc["optimizer"]["param_groups"][0]["lr"] == opt.param_groups[0]["lr"]
    assert json.loads((tmp_path / "latest.json").read_text()) == {"checkpoint": path.name}


def test_empty_dir_has_no_checkpoint(task, tmp_path):
    assert load_checkpoint(tmp_path, model=task.make_model()) is None
    assert latest_checkpoint(tmp_path / "missing") is None


def test_interrupted_save_leaves_previous_checkpoint_loadable(task, tmp_path, monkeypatch):
    model, opt, sched = _setup(task)
    first = save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, state={"global_step": 1})
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    _train(task, model, opt, sched, 2)

    real_replace = os.replace

    def crash_on_rename(src, dst):  # the process dies just before the new checkpoint is moved into place
        if os.path.isdir(src):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", crash_on_rename)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, state={"global_step": 3})
    monkeypatch.undo()

    # leftovers of a SIGKILLed writer: a partial temp checkpoint, a half-written pointer
    # and a complete checkpoint directory that latest.json does not point at yet
    partial = tmp_path / ".tmp-step-000000005-abcd.x1"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\x00garbage")
    (tmp_path / ".tmp-latest.json.y2").write_text('{"checkpoint": "step-0000')
    orphan = tmp_path / "step-000000009-deadbeef"
    orphan.mkdir()
    (orphan / "state.json").write_text("{")

    fresh = task.make_model(seed=5)
    ckpt = load_checkpoint(tmp_path, model=fresh, restore_rng_of_rank=None)
    assert ckpt.path == first and ckpt.state == {"global_step": 1}
    assert all(torch.equal(saved[k], v) for k, v in fresh.state_dict().items())

    # the next successful save becomes latest and clears the debris
    newest = save_checkpoint(tmp_path, model=model, state={"global_step": 4})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", newest.name]


def test_shape_mismatch_names_the_key(task, tmp_path):
    model, opt, sched = _setup(task, hidden=16)
    save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched)
    other, opt2, sched2 = _setup(task, hidden=12)
    with pytest.raises(ArtifactError) as exc:
        load_checkpoint(tmp_path, model=other, optimizer=opt2, scheduler=sched2)
    msg = str(exc.value)
    assert "net.0.weight has shape (16, 8), the model expects (12, 8)" in msg
    assert "net.3.weight" in msg and "model.safetensors" in msg


def test_missing_and_unexpected_keys_are_named(task, tmp_path):
    save_weights(tmp_path / "w.safetensors", task.make_model())
    other = torch.nn.Module()
    other.net = torch.nn.Sequential(torch.nn.Linear(8, 16))
    other.head = torch.nn.Linear(16, 3)
    with pytest.raises(ArtifactError) as exc:
        load_weights(tmp_path / "w.safetensors", other)
    assert "missing head.bias, head.weight; unexpected net.3.bias, net.3.weight" in str(exc.value)


def test_corrupt_files_raise_artifact_error(task, tmp_path):
    model = task.make_model()
    path = save_checkpoint(tmp_path, model=model)
    (path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ArtifactError, match="model.safetensors: not a readable safetensors file"):
        load_checkpoint(tmp_path, model=model)
    (tmp_path / "latest.json").write_text('{"checkpoint": "step-nope"}')
    with pytest.raises(ArtifactError, match="points at 'step-nope', which is not a complete checkpoint"):
        load_checkpoint(tmp_path, model=model)


def test_tied_weights_can_be_saved(tmp_path):
    emb = torch.nn.Embedding(5, 4)
    model = torch.nn.ModuleDict({"emb": emb, "out": torch.nn.Linear(4, 5, bias=False)})
    model["out"].weight = emb.weight
    save_weights(tmp_path / "tied.safetensors", model)
    fresh = torch.nn.ModuleDict({"emb": torch.nn.Embedding(5, 4), "out": torch.nn.Linear(4, 5, bias=False)})
    load_weights(tmp_path / "tied.safetensors", fresh)
    assert torch.equal(fresh["out"].weight, emb.weight)
