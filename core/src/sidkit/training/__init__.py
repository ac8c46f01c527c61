"""Shared training utilities: configs, seeding, devices, optimizers, checkpoints, the loop.

The config classes are importable without torch (``sidkit.training.config``, re-exported
here eagerly); everything else is imported on first access, so plugin config modules can
``from sidkit.training import TrainConfig`` without pulling in torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import OptimConfig, ParamGroupConfig, SchedulerConfig, TrainConfig

_LAZY = {
    "fit": "loop",
    "FitResult": "loop",
    "NonFiniteLossError": "loop",
    "steps_per_epoch": "loop",
    "config_fingerprint": "loop",
    "seed_everything": "seed",
    "make_generator": "seed",
    "derive_seed": "seed",
    "resolve_device": "device",
    "DeviceUnavailableError": "device",
    "flush_denormals": "device",
    "build_optimizer": "optim",
    "param_groups": "optim",
    "build_scheduler": "optim",
    "lr_factor": "optim",
    "weights_version": "optim",
    "Checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "latest_checkpoint": "checkpoint",
    "save_weights": "checkpoint",
    "load_weights": "checkpoint",
    "capture_rng": "checkpoint",
    "restore_rng": "checkpoint",
    "DistInfo": "distributed",
    "init_distributed": "distributed",
    "dist_info": "distributed",
    "is_main_process": "distributed",
    "barrier": "distributed",
    "cleanup": "distributed",
    "Throughput": "throughput",
    "Monitor": "monitor",
}

__all__ = [
    "OptimConfig",
    "ParamGroupConfig",
    "SchedulerConfig",
    "TrainConfig",
    "fit",
    "FitResult",
    "NonFiniteLossError",
    "steps_per_epoch",
    "config_fingerprint",
    "seed_everything",
    "make_generator",
    "derive_seed",
    "resolve_device",
    "flush_denormals",
    "DeviceUnavailableError",
    "build_optimizer",
    "param_groups",
    "build_scheduler",
    "lr_factor",
    "weights_version",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "latest_checkpoint",
    "save_weights",
    "load_weights",
    "capture_rng",
    "restore_rng",
    "DistInfo",
    "init_distributed",
    "dist_info",
    "is_main_process",
    "barrier",
    "cleanup",
    "Throughput",
    "Monitor",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from .checkpoint import (
        Checkpoint,
        capture_rng,
        latest_checkpoint,
        load_checkpoint,
        load_weights,
        read_checkpoint,
        restore_rng,
        save_checkpoint,
        save_weights,
    )
    from .device import DeviceUnavailableError, flush_denormals, resolve_device
    from .distributed import DistInfo, barrier, cleanup, dist_info, init_distributed, is_main_process
    from .loop import FitResult, NonFiniteLossError, config_fingerprint, fit, steps_per_epoch
    from .monitor import Monitor
    from .optim import build_optimizer, build_scheduler, lr_factor, param_groups, weights_version
    from .seed import derive_seed, make_generator, seed_everything
    from .throughput import Throughput
