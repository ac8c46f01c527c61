"""Mixed precision in the shared loop: bf16 autocast around the loss and validation,
float32 weights, optimizer state and checkpoints, bitwise resume within one precision."""

from __future__ import annotations

import attrs
import pytest
import torch
from safetensors.torch import load_file
from sidkit.config.structure import structure
from sidkit.errors import ArtifactError
from sidkit.training import OptimConfig, SchedulerConfig, TrainConfig, fit
from sidkit.training.checkpoint import latest_checkpoint

CFG = TrainConfig(
    epochs=4,
    batch_size=16,
    optim=OptimConfig(lr=0.05),
    scheduler=SchedulerConfig(name="cosine", warmup_steps=2),
    checkpoint_every_steps=3,
    precision="bf16",
    progress=False,
)


class Interrupted(Exception):
    pass


def _fit(task, cfg=CFG, *, workdir=None, interrupt_at=None, seen=None, dropout=0.2):
    """Fit the tiny MLP on 90 examples (6 steps per epoch); ``seen`` collects, per loss and
    validation call, whether autocast was on and the dtype of the model's output."""
    x, y = task.make_data(90)
    vx, vy = task.make_data(64, seed=1)
    calls = [0]
    seen = [] if seen is None else seen

    def loss_fn(m, batch):
        calls[0] += 1
        if calls[0] == interrupt_at:
            raise Interrupted
        logits = m(batch[0])
        seen.append(("loss", torch.is_autocast_enabled("cpu"), logits.dtype))
        return torch.nn.functional.cross_entropy(logits, batch[1])

    def validate(m):
        logits = m(vx)
        seen.append(("validate", torch.is_autocast_enabled("cpu"), logits.dtype))
        return float((logits.argmax(1) == vy).float().mean())

    model = task.make_model(dropout=dropout)
    result = fit(
        model,
        loss_fn=loss_fn,
        n_examples=90,
        make_batch=task.batch_maker(x, y),
        cfg=cfg,
        seed=3,
        device="cpu",
        workdir=workdir,
        validate=validate,
        metric_name="acc",
    )
    return model, result, calls[0]


def _same_params(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("bad", ["fp16", "BF16", "float32", ""])
def test_invalid_precision_names_field_and_choices(bad):
    with pytest.raises(ValueError, match=f"precision must be one of 'fp32', 'bf16', got {bad!r}"):
        TrainConfig(precision=bad)
    _, issues = structure({"precision": bad}, TrainConfig, "generator.train")
    assert [i.path for i in issues] == ["generator.train.precision"]
    assert "must be one of 'fp32', 'bf16'" in issues[0].message


def test_default_is_fp32_without_autocast(task):
    assert TrainConfig().precision == "fp32"
    seen: list = []
    _fit(task, attrs.evolve(CFG, precision="fp32", epochs=1), seen=seen)
    assert seen and all(enabled is False and dtype == torch.float32 for _, enabled, dtype in seen)


def test_bf16_runs_loss_and_validation_under_autocast_and_keeps_float32_weights(task):
    seen: list = []
    fp32_model, fp32, _ = _fit(task, attrs.evolve(CFG, precision="fp32"), dropout=0.0)
    bf16_model, bf16, _ = _fit(task, seen=seen, dropout=0.0)
    assert {kind for kind, _, _ in seen} == {"loss", "validate"}
    assert all(enabled is True and dtype == torch.bfloat16 for _, enabled, dtype in seen)
    # master weights are float32 and the computation really changed (bf16 rounding) ...
    assert all(p.dtype == torch.float32 for p in bf16_model.state_dict().values())
    assert not _same_params(fp32_model, bf16_model)
    losses32, losses16 = [r["train_loss"] for r in fp32.history], [r["train_loss"] for r in bf16.history]
    assert losses16 != losses32
    # ... but only by rounding (about 1e-3 relative here)
    assert losses16 == pytest.approx(losses32, rel=0.01)
    assert bf16.history[-1]["train_loss"] < bf16.history[0]["train_loss"]
    assert all(isinstance(r["train_loss"], float) for r in bf16.history)


def test_bf16_checkpoints_and_best_weights_are_float32(task, tmp_path):
    model, result, _ = _fit(task, workdir=tmp_path)
    assert result.best_epoch is not None
    ckpt = latest_checkpoint(tmp_path / "checkpoints")
    tensors = {
        "model": load_file(ckpt / "model.safetensors"),
        "optimizer": load_file(ckpt / "train_state.safetensors"),
        "best": load_file(tmp_path / "best.safetensors"),
    }
    for name, group in tensors.items():
        floats = {k: v.dtype for k, v in group.items() if v.is_floating_point()}
        assert floats and set(floats.values()) == {torch.float32}, (name, floats)
    assert len(tensors["optimizer"]) >= 2 * len(tensors["model"])  # AdamW's exp_avg and exp_avg_sq


@pytest.mark.parametrize(("interrupt_at", "last_checkpoint"), [(17, 15), (10, 9)])
def test_bf16_interrupted_mid_epoch_resumes_bitwise(task, tmp_path, interrupt_at, last_checkpoint):
    # 6 steps per epoch, checkpoints every 3 steps: steps 9 and 15 are mid-epoch (2 and 3)
    ref, ref_result, _ = _fit(task, workdir=tmp_path / "ref")
    with pytest.raises(Interrupted):
        _fit(task, workdir=tmp_path / "run", interrupt_at=interrupt_at)
    model, result, calls = _fit(task, workdir=tmp_path / "run")
    assert calls == 24 - last_checkpoint
    assert _same_params(ref, model)
    assert [r["acc"] for r in result.history] == [r["acc"] for r in ref_result.history]
    # and the bf16 run is not secretly an fp32 one
    fp32, _, _ = _fit(task, attrs.evolve(CFG, precision="fp32"))
    assert not _same_params(fp32, model)


def test_precision_is_part_of_the_fingerprint(task, tmp_path):
    _fit(task, attrs.evolve(CFG, epochs=1), workdir=tmp_path)
    with pytest.raises(ArtifactError, match="different training run"):
        _fit(task, attrs.evolve(CFG, epochs=1, precision="fp32"), workdir=tmp_path)
