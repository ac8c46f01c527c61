"""The training loop in one process: learning, exact resume, early stopping, fingerprints."""

from __future__ import annotations

import json
import math
import time

import attrs
import pytest
import torch
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training import NonFiniteLossError, OptimConfig, SchedulerConfig, TrainConfig, fit, load_weights

CFG = TrainConfig(
    epochs=4,
    batch_size=16,
    optim=OptimConfig(lr=0.05),
    scheduler=SchedulerConfig(name="linear", warmup_steps=3),
    checkpoint_every_steps=3,
    progress=False,
)


class Interrupted(Exception):
    pass


def _fit(task, cfg=CFG, *, workdir=None, validate=True, interrupt_at=None, model=None, **kwargs):
    x, y = task.make_data(90)
    vx, vy = task.make_data(64, seed=1)
    calls = [0]

    def loss_fn(m, batch):
        calls[0] += 1
        if calls[0] == interrupt_at:
            raise Interrupted
        return task.loss_fn(m, batch)

    model = model if model is not None else task.make_model()
    result = fit(
        model,
        loss_fn=loss_fn,
        n_examples=90,
        make_batch=task.batch_maker(x, y),
        cfg=cfg,
        seed=3,
        device="cpu",
        workdir=workdir,
        validate=task.accuracy_on(vx, vy) if validate else None,
        metric_name="acc",
        **kwargs,
    )
    return model, result, calls[0]


def _same_params(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_learns_and_reports(task, tmp_path):
    x, y = task.make_data(90)
    with torch.no_grad():
        before = float(task.loss_fn(task.make_model().eval(), (x, y)))
    seen = []
    model, result, calls = _fit(task, workdir=tmp_path, on_epoch_end=lambda e, rec: seen.append((e, rec["acc"])))
    assert calls == 4 * 6 and result.global_step == 24 and result.epochs_run == 4 and not result.stopped_early
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4] and seen == [
        (r["epoch"], r["acc"]) for r in result.history
    ]
    with torch.no_grad():
        assert float(task.loss_fn(model.eval(), (x, y))) < before
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_metric == max(r["acc"] for r in result.history)
    assert (tmp_path / "best.safetensors").exists() and (tmp_path / "checkpoints" / "latest.json").exists()
    assert math.isclose(result.history[-1]["lr"], 0.0, abs_tol=1e-12)  # linear decay ends at 0
    logged = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert logged == json.loads(json.dumps(result.history))  # every epoch, as recorded


@pytest.mark.parametrize(("interrupt_at", "last_checkpoint"), [(14, 12), (17, 15)])
def test_interrupted_run_resumes_bitwise(task, tmp_path, interrupt_at, last_checkpoint):
    # 6 steps per epoch, checkpoints every 3 steps: step 12 ends epoch 2, step 15 is mid-epoch 3
    ref, ref_result, _ = _fit(task, workdir=tmp_path / "ref")
    with pytest.raises(Interrupted):
        _fit(task, workdir=tmp_path / "run", interrupt_at=interrupt_at)
    model, result, calls = _fit(task, workdir=tmp_path / "run")
    assert calls == 24 - last_checkpoint
    assert _same_params(ref, model)
    assert [r["acc"] for r in result.history] == [r["acc"] for r in ref_result.history]
    assert [r["train_loss"] for r in result.history] == pytest.approx([r["train_loss"] for r in ref_result.history])
    # the log of the resumed run has every epoch once, like the unbroken run's
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    # a finished run resumes to "nothing left to do"
    again, again_result, calls = _fit(task, workdir=tmp_path / "run")
    assert calls == 0 and again_result.history == result.history
    assert _same_params(again, model)


def test_changed_config_refuses_to_resume(task, tmp_path):
    _fit(task, TrainConfig(epochs=1, batch_size=16, progress=False), workdir=tmp_path)
    with pytest.raises(
        ArtifactError, match="different training run.*delete .*checkpoints.* or use a new output directory"
    ):
        _fit(task, TrainConfig(epochs=1, batch_size=16, optim=OptimConfig(lr=0.5), progress=False), workdir=tmp_path)
    # cosmetic settings do not count
    _fit(task, TrainConfig(epochs=1, batch_size=16, log_every_steps=2, checkpoint_every_steps=4), workdir=tmp_path)


def _scripted_validation(metrics, snapshots):
    it = iter(metrics)

    def validate(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(it)

    return validate


@pytest.mark.parametrize("use_workdir", [True, False])
def test_early_stopping_restores_best_weights(task, tmp_path, use_workdir):
    snapshots: list[dict] = []
    x, y = task.make_data(90)
    cfg = TrainConfig(epochs=10, batch_size=32, early_stopping_patience=2, progress=False)
    model = task.make_model()
    result = fit(
        model,
        loss_fn=task.loss_fn,
        n_examples=90,
        make_batch=task.batch_maker(x, y),
        cfg=cfg,
        device="cpu",
        workdir=tmp_path if use_workdir else None,
        validate=_scripted_validation([0.1, 0.5, 0.3, 0.5, 0.9, 1.0], snapshots),
    )
    assert result.stopped_early and result.epochs_run == 4 and len(snapshots) == 4
    assert (result.best_epoch, result.best_metric) == (2, 0.5)  # ties do not count as improvement
    assert [r["recall@10"] for r in result.history] == [0.1, 0.5, 0.3, 0.5]
    best = snapshots[1]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())
    assert not torch.equal(snapshots[3]["net.0.weight"], best["net.0.weight"])
    if use_workdir:
        saved = task.make_model(seed=9)
        load_weights(tmp_path / "best.safetensors", saved)
        assert all(torch.equal(best[k], v) for k, v in saved.state_dict().items())


def test_validate_every_and_max_steps(task):
    snapshots: list[dict] = []
    cfg = TrainConfig(epochs=10, batch_size=16, validate_every=2, max_steps=15, progress=False)
    _, result, calls = _fit(task, cfg, validate=False)
    assert calls == 15 and result.global_step == 15 and result.epochs_run == 3
    model = task.make_model()
    x, y = task.make_data(90)
    result = fit(
        model,
        loss_fn=task.loss_fn,
        n_examples=90,
        make_batch=task.batch_maker(x, y),
        cfg=cfg,
        device="cpu",
        validate=_scripted_validation([0.2, 0.1], snapshots),
    )
    # evaluated after epoch 2 and after the last (cut short) epoch 3
    assert [("recall@10" in r) for r in result.history] == [False, True, True]
    assert [("validate_seconds" in r) for r in result.history] == [False, True, True]


def test_history_records_wall_clock_after_validation(task):
    started, validated_at = time.time(), []

    def slow_validate(model):
        time.sleep(0.05)
        validated_at.append(time.time())
        return 0.5

    x, y = task.make_data(90)
    cfg = TrainConfig(epochs=3, batch_size=32, validate_every=2, progress=False)
    result = fit(
        task.make_model(),
        loss_fn=task.loss_fn,
        n_examples=90,
        make_batch=task.batch_maker(x, y),
        cfg=cfg,
        device="cpu",
        validate=slow_validate,
    )
    history = result.history
    keys = {"epoch", "global_step", "train_loss", "lr", "seconds", "samples_per_s", "finished_at"}
    validated = keys | {"recall@10", "validate_seconds"}
    assert [set(r) for r in history] == [keys, validated, validated]  # epoch 3 is the last one
    finished = [r["finished_at"] for r in history]
    assert started <= finished[0] <= finished[1] <= finished[2] <= time.time()
    # taken after validation, which the record times separately from training
    assert finished[1] >= validated_at[0] and finished[2] >= validated_at[1]
    assert all(r["validate_seconds"] >= 0.05 for r in history[1:])


def test_non_finite_loss_raises(task):
    cfg = TrainConfig(epochs=1, batch_size=16, log_every_steps=1, progress=False)
    with pytest.raises(NonFiniteLossError, match="nan at epoch 1, step 1"):
        fit(
            task.make_model(),
            loss_fn=lambda m, b: m(b).sum() * float("nan"),
            n_examples=20,
            make_batch=lambda idx: torch.ones(len(idx), 8),
            cfg=cfg,
            device="cpu",
        )


def test_progress_bar_runs(task, capsys):
    cfg = TrainConfig(epochs=1, batch_size=16, log_every_steps=2, progress=True)
    _fit(task, cfg, validate=False)
    assert "samples_s" in capsys.readouterr().err


class _FakeWriter:
    """Stands in for TensorBoard's SummaryWriter: records what the loop writes."""

    def __init__(self, logdir):
        self.logdir, self.scalars, self.closed = logdir, [], False

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_tensorboard_gets_every_epoch_record_and_changes_nothing_else(task, tmp_path, monkeypatch):
    import sidkit.training.loop as loop

    writers = []
    monkeypatch.setattr(loop, "_summary_writer", lambda logdir: writers.append(_FakeWriter(logdir)) or writers[-1])
    ref_model, ref, _ = _fit(task, workdir=tmp_path / "plain")
    model, result, _ = _fit(task, attrs.evolve(CFG, tensorboard=True), workdir=tmp_path / "tb")
    (writer,) = writers
    assert writer.logdir == tmp_path / "tb" / "tensorboard" and writer.closed
    for record in result.history:
        logged = {tag: v for tag, v, step in writer.scalars if step == record["epoch"]}
        assert logged["train_loss"] == record["train_loss"] and logged["acc"] == record["acc"] and logged["lr"] == record["lr"]
    assert [r["acc"] for r in result.history] == [r["acc"] for r in ref.history] and _same_params(ref_model, model)


def test_tensorboard_without_the_package_is_a_clear_error(task, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(SidkitError, match="train.tensorboard = true needs the tensorboard package: pip install tensorboard"):
        _fit(task, attrs.evolve(CFG, tensorboard=True), workdir=tmp_path)
