"""Training config classes: defaults, validation messages, structuring from plain data."""

from __future__ import annotations

import subprocess
import sys

import attrs
import pytest
from sidkit.config.structure import structure, unstructure
from sidkit.training.config import OptimConfig, SchedulerConfig, TrainConfig


@attrs.frozen(kw_only=True)
class PluginConfig:  # how a plugin embeds the training settings
    hidden: int = 8
    train: TrainConfig = TrainConfig()


@pytest.mark.parametrize(
    ("cls", "kwargs", "expected"),
    [
        (OptimConfig, {"lr": 0.0}, "lr must be > 0.0, got 0.0"),
        (OptimConfig, {"lr": float("nan")}, "lr must be > 0.0"),
        (OptimConfig, {"weight_decay": -0.1}, "weight_decay must be >= 0.0"),
        (OptimConfig, {"momentum": 1.0}, "momentum must be >= 0.0 and < 1.0, got 1.0"),
        (OptimConfig, {"betas": (0.9, 1.0)}, "betas must be two numbers in [0, 1), got [0.9, 1.0]"),
        (
            OptimConfig,
            {"name": "adamww"},
            "name must be one of 'adamw', 'adam', 'sgd', got 'adamww' (did you mean 'adamw'",
        ),
        (SchedulerConfig, {"name": "step"}, "name must be one of 'constant', 'linear', 'cosine'"),
        (SchedulerConfig, {"warmup_steps": -1}, "warmup_steps must be >= 0, got -1"),
        (TrainConfig, {"epochs": 0}, "epochs must be >= 1, got 0"),
        (TrainConfig, {"batch_size": 0}, "batch_size must be >= 1"),
        (TrainConfig, {"grad_clip": 0.0}, "grad_clip must be > 0.0"),
        (TrainConfig, {"early_stopping_patience": -1}, "early_stopping_patience must be >= 0"),
        (TrainConfig, {"validate_every": 0}, "validate_every must be >= 1"),
        (TrainConfig, {"checkpoint_every_steps": -5}, "checkpoint_every_steps must be >= 0"),
        (TrainConfig, {"max_steps": 0}, "max_steps must be >= 1"),
        (TrainConfig, {"log_every_steps": 0}, "log_every_steps must be >= 1"),
        (TrainConfig, {"precision": "fp16"}, "precision must be one of 'fp32', 'bf16', got 'fp16'"),
    ],
)
def test_invalid_values_name_field_and_range(cls, kwargs, expected):
    with pytest.raises(ValueError) as exc:
        cls(**kwargs)
    assert expected in str(exc.value)


def test_optional_fields_accept_none_and_lists():
    cfg = TrainConfig(grad_clip=None, max_steps=None, optim=OptimConfig(betas=[0.8, 0.99]))
    assert cfg.grad_clip is None and cfg.optim.betas == (0.8, 0.99)


def test_structure_reports_validator_messages():
    _, issues = structure({"epochs": 0}, TrainConfig, "train")
    assert [(i.path, i.message) for i in issues] == [("train.epochs", "epochs must be >= 1, got 0")]
    # nested: the issue sits at the embedded table and carries the validator's explanation
    _, issues = structure({"train": {"optim": {"lr": -1}}}, PluginConfig, "generator")
    assert issues[0].path.startswith("generator.train")
    assert "lr must be > 0.0, got -1.0" in issues[0].message


def test_structure_roundtrip_and_unknown_key():
    cfg = PluginConfig(train=TrainConfig(epochs=3, optim=OptimConfig(name="sgd", momentum=0.9), max_steps=10))
    back, issues = structure(unstructure(cfg), PluginConfig, "g")
    assert issues == [] and back == cfg
    _, issues = structure({"train": {"epoch": 3}}, PluginConfig, "g")
    assert issues[0].path == "g.train.epoch" and "did you mean 'epochs'" in issues[0].message


def test_config_import_does_not_import_torch():
    code = (
        "import sys; from sidkit.training import TrainConfig; import sidkit.training.config; "
        "TrainConfig(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
