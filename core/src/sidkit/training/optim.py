"""Optimizers and learning-rate schedules from :mod:`sidkit.training.config` classes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.optimizer import register_optimizer_step_post_hook

from .config import OptimConfig, SchedulerConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor", "param_groups", "weights_version"]

_optimizer_steps = 0


def _count_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    global _optimizer_steps
    _optimizer_steps += 1


register_optimizer_step_post_hook(_count_step)


def weights_version(module: torch.nn.Module) -> tuple[int, ...]:
    """A key that changes whenever ``module``'s parameters may have changed, for caches of
    values computed from them: the number of optimizer steps taken (by any torch optimizer,
    counted from this module's import) and every parameter's version counter (in-place
    writes such as ``load_state_dict``). The version counters alone are not enough: a fused
    Adam / AdamW step (:func:`build_optimizer`) updates the tensors without bumping them."""
    return (_optimizer_steps, *(p._version for p in module.parameters()))


#: devices with a fused Adam / AdamW in torch (the whole update in one pass over each tensor)
FUSED_DEVICES = ("cpu", "cuda")


def fusable(params: list[Any]) -> bool:
    """Whether torch's fused Adam / AdamW can update ``params`` (tensors or param-group
    dicts): every tensor dense, floating point, on a CPU or CUDA device."""
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(tensors) and all(
        t.is_floating_point() and not t.is_sparse and t.device.type in FUSED_DEVICES for t in tensors
    )


def build_optimizer(params: Iterable[Any], cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW / Adam (``betas``, ``weight_decay``) or SGD (``momentum``, ``weight_decay``)
    over ``params`` (tensors or param-group dicts).

    Adam and AdamW run torch's fused implementation where every parameter allows it
    (:func:`fusable`): the same update as the default per-tensor loop, in one pass over
    each tensor instead of about ten (5.4-6.5x faster an Adam step for IntRR's 7.7 M parameters
    on one CPU thread; ``benchmarks/optimizer_step.py``)."""
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=fusable(params) or None)


def param_groups(model: torch.nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """``model``'s parameters as optimizer param groups following ``cfg.groups``.

    A parameter belongs to the group of the longest prefix of its name in ``cfg.groups``;
    the rest form the first group, with the optimizer's own settings. The configured groups
    follow in sorted prefix order, so a checkpoint's groups line up whatever order the
    config lists them in. Every group carries its ``"name"`` (``""`` for the rest); empty
    groups are left out. A prefix that matches no parameter is an error (a typo would
    otherwise silently train at the base rate).
    """
    if not cfg.groups:
        return [{"params": list(model.parameters()), "name": ""}]
    prefixes = sorted(cfg.groups)
    members: dict[str, list[torch.nn.Parameter]] = {p: [] for p in ["", *prefixes]}
    for name, param in model.named_parameters():
        matching = [p for p in prefixes if name.startswith(p)]
        members[max(matching, key=len) if matching else ""].append(param)
    unused = [p for p in prefixes if not members[p]]
    if unused:
        names = sorted({n.split(".")[0] + "." for n, _ in model.named_parameters()})
        raise ValueError(
            f"optim.groups: {', '.join(repr(p) for p in unused)} matches no parameter of the model "
            f"(parameter names start with {', '.join(repr(n) for n in names)})"
        )
    groups = [{"params": members[""], "name": ""}] if members[""] else []
    for prefix in prefixes:
        group, own = {"params": members[prefix], "name": prefix}, cfg.groups[prefix]
        if own.lr is not None:
            group["lr"] = own.lr
        if own.weight_decay is not None:
            group["weight_decay"] = own.weight_decay
        groups.append(group)
    return groups


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
