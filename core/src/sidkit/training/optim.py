"""Optimizers and learning-rate schedules from :mod:`sidkit.training.config` classes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from .config import OptimConfig, SchedulerConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(params: Iterable[Any], cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW / Adam (``betas``, ``weight_decay``) or SGD (``momentum``, ``weight_decay``)
    over ``params`` (tensors or param-group dicts)."""
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def lr_factor(name: str, step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base lr for the optimizer step ``step`` (0-based): linear warm-up
    reaching 1 at ``warmup_steps``, then constant, linear or cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if name == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if name == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: SchedulerConfig, total_steps: int) -> LambdaLR:
    """A per-step ``LambdaLR`` following :func:`lr_factor`; call ``step()`` after each
    optimizer step. Its ``state_dict`` is plain JSON-able data."""

    def factor(step: int) -> float:
        return lr_factor(cfg.name, step, cfg.warmup_steps, total_steps)

    return LambdaLR(optimizer, factor)
