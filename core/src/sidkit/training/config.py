"""Training config classes (attrs only, no torch: plugin configs embed them).

Every validator names the field and its valid range, so :func:`sidkit.config.structure`
reports e.g. ``train.optim.lr: lr must be > 0, got -1.0``.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..config.validators import in_range, one_of

__all__ = [
    "ParamGroupConfig",
    "OptimConfig",
    "SchedulerConfig",
    "TrainConfig",
    "OPTIMIZERS",
    "SCHEDULERS",
    "PRECISIONS",
]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("constant", "linear", "cosine")
PRECISIONS = ("fp32", "bf16")


def _betas(_inst: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if len(value) != 2 or not all(0.0 <= b < 1.0 for b in value):
        raise ValueError(f"{attribute.name} must be two numbers in [0, 1), got {list(value)!r}")


@attrs.frozen(kw_only=True)
class ParamGroupConfig:
    """Settings of one parameter group (``OptimConfig.groups``); an unset value is the
    optimizer's own (``lr``, ``weight_decay``)."""

    lr: float | None = attrs.field(default=None, validator=in_range(0.0, lo_open=True))
    weight_decay: float | None = attrs.field(default=None, validator=in_range(0.0))


def _group_prefixes(_inst: Any, attribute: attrs.Attribute, value: dict[str, ParamGroupConfig]) -> None:
    for prefix, group in value.items():
        if not prefix:
            raise ValueError(f"{attribute.name} keys must be non-empty parameter-name prefixes, got {prefix!r}")
        if not isinstance(group, ParamGroupConfig):
            raise ValueError(f"{attribute.name}[{prefix!r}] must be a table with lr and/or weight_decay, got {group!r}")


@attrs.frozen(kw_only=True)
class OptimConfig:
    """Optimizer: ``adamw`` / ``adam`` (use ``betas``) or ``sgd`` (uses ``momentum``).

    ``groups`` maps a parameter-name prefix (as in ``model.named_parameters()``, e.g.
    ``"tokenizer."``) to its own ``lr`` and/or ``weight_decay``; a parameter joins the group
    of the longest prefix it starts with, the others keep ``lr`` and ``weight_decay``. The
    schedule scales every group's rate by the same factor.
    """

    name: str = attrs.field(default="adamw", validator=one_of(OPTIMIZERS))
    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, lo_open=True))
    weight_decay: float = attrs.field(default=0.0, validator=in_range(0.0))
    betas: tuple[float, float] = attrs.field(default=(0.9, 0.999), converter=tuple, validator=_betas)
    momentum: float = attrs.field(default=0.0, validator=in_range(0.0, 1.0, hi_open=True))
    groups: dict[str, ParamGroupConfig] = attrs.field(factory=dict, hash=False, validator=_group_prefixes)


@attrs.frozen(kw_only=True)
class SchedulerConfig:
    """Learning-rate schedule: linear warm-up over ``warmup_steps`` optimizer steps, then
    ``constant``, ``linear`` decay to 0 or ``cosine`` decay to 0 at the last step."""

    name: str = attrs.field(default="constant", validator=one_of(SCHEDULERS))
    warmup_steps: int = attrs.field(default=0, validator=in_range(0))


@attrs.frozen(kw_only=True)
class TrainConfig:
    """The shared training loop's settings (see :func:`sidkit.training.fit`).

    ``early_stopping_patience``: stop after that many evaluations without improvement
    (0 = off). ``validate_every``: validate every N epochs (and after the last one).
    ``checkpoint_every_steps``: 0 = checkpoint only at epoch ends.
    ``max_steps``: stop after that many optimizer steps in total (``None`` = no limit).
    ``grad_clip``: max gradient norm (``None`` = no clipping).
    ``precision``: ``fp32``, or ``bf16`` = the loss function and validation run under
    bfloat16 autocast; weights, optimizer state and checkpoints stay float32.
    ``group_by_length``: when the trainer knows each sample's length, batches hold samples
    of similar length (less padding; the epoch is still a random permutation).
    ``tensorboard``: also write every epoch's record as TensorBoard scalars to
    ``<workdir>/tensorboard`` (needs the ``tensorboard`` package; changes nothing else).
    """

    epochs: int = attrs.field(default=10, validator=in_range(1))
    batch_size: int = attrs.field(default=256, validator=in_range(1))
    optim: OptimConfig = attrs.field(factory=OptimConfig)
    scheduler: SchedulerConfig = attrs.field(factory=SchedulerConfig)
    grad_clip: float | None = attrs.field(default=1.0, validator=in_range(0.0, lo_open=True))
    early_stopping_patience: int = attrs.field(default=0, validator=in_range(0))
    validate_every: int = attrs.field(default=1, validator=in_range(1))
    checkpoint_every_steps: int = attrs.field(default=0, validator=in_range(0))
    max_steps: int | None = attrs.field(default=None, validator=in_range(1))
    precision: str = attrs.field(default="fp32", validator=one_of(PRECISIONS))
    group_by_length: bool = False
    log_every_steps: int = attrs.field(default=50, validator=in_range(1))
    progress: bool = True
    tensorboard: bool = False
