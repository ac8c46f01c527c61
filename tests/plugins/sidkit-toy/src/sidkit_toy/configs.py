"""Config classes of sidkit-toy (attrs only, cheap to import: ``plugin.py`` imports this)."""

from __future__ import annotations

import attrs
from sidkit.training.config import TrainConfig


def _at_least(lo):
    def check(_inst, attribute, value):
        if value < lo:
            raise ValueError(f"{attribute.name} must be >= {lo}, got {value}")

    return check


def _fraction(_inst, attribute, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1), got {value}")


@attrs.frozen(kw_only=True)
class ToyTextConfig:
    """``dim``: output size. ``min_df``: drop tokens in fewer items. ``seed``: projection seed (+ run seed)."""

    dim: int = attrs.field(default=64, validator=_at_least(2))
    min_df: int = attrs.field(default=1, validator=_at_least(1))
    seed: int = 0


@attrs.frozen(kw_only=True)
class ToyRKMeansConfig:
    """``levels`` residual codebooks of ``codebook_size`` centroids, ``iters`` Lloyd steps each;
    ``dedup`` appends a level that makes every SID unique."""

    levels: int = attrs.field(default=2, validator=_at_least(1))
    codebook_size: int = attrs.field(default=16, validator=_at_least(2))
    iters: int = attrs.field(default=20, validator=_at_least(1))
    dedup: bool = True
    seed: int = 0


@attrs.frozen(kw_only=True)
class ToyMLPConfig:
    """The last ``max_len`` history items -> ``dim``-d code embeddings -> MLP (``hidden``,
    ``dropout``) -> one softmax per SID level. ``train``: the shared training loop's settings."""

    max_len: int = attrs.field(default=20, validator=_at_least(1))
    dim: int = attrs.field(default=64, validator=_at_least(2))
    hidden: int = attrs.field(default=128, validator=_at_least(1))
    dropout: float = attrs.field(default=0.1, validator=_fraction)
    train: TrainConfig = attrs.field(factory=TrainConfig)


@attrs.frozen(kw_only=True)
class ToyExhaustiveConfig:
    """``batch_size``: histories scored at once."""

    batch_size: int = attrs.field(default=512, validator=_at_least(1))
