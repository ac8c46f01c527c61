"""The SASRec options the ``sasrec`` encoder and the ``sasrec`` generator share (attrs +
sidkit's training config only: importing this never imports torch).

Training defaults follow the SASRec paper (Adam, lr 1e-3, batch 256) with a modest epoch
budget and early stopping. They live on subclasses of sidkit's ``TrainConfig``, so a
partial ``[encoder.train]`` table keeps them for the keys it does not set.
"""

from __future__ import annotations

import re

import attrs
from sidkit.config.validators import at_least, between, one_of
from sidkit.training.config import TrainConfig

__all__ = ["LOSSES", "WINDOWS", "SASRecTrainConfig", "SASRecModelConfig", "parse_monitor"]

LOSSES = ("bce", "ce")
WINDOWS = ("last", "all")
_MONITOR = re.compile(r"^(ndcg|recall|hr)@([1-9][0-9]*)$")


def parse_monitor(monitor: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; ``ValueError`` for anything else."""
    m = _MONITOR.match(monitor)
    if m is None:
        raise ValueError(f"monitor must look like 'ndcg@10', 'recall@20' or 'hr@5', got {monitor!r}")
    return m.group(1), int(m.group(2))


def _monitor(_inst, attribute, value) -> None:
    try:
        parse_monitor(value)
    except ValueError:
        raise ValueError(
            f"{attribute.name} must be a validation metric like 'ndcg@10', 'recall@20' or 'hr@5', got {value!r}"
        ) from None


def _dropout(_inst, attribute, value) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attribute.name} must be >= 0 and < 1 (a dropout probability), got {value!r}")


def _divides_hidden(inst, attribute, value) -> None:
    if value >= 1 and inst.hidden % value:
        ok = [h for h in range(1, min(inst.hidden, 16) + 1) if inst.hidden % h == 0]
        raise ValueError(
            f"{attribute.name} must divide hidden={inst.hidden} (each head gets hidden / num_heads dimensions), "
            f"got {value!r}; with hidden={inst.hidden} use one of {', '.join(map(str, ok))}"
        )


def _redefault(cls: type, name: str, default):
    """Field ``name`` of ``cls`` with another default (same validator)."""
    return attrs.field(default=default, validator=getattr(attrs.fields(cls), name).validator)


@attrs.frozen(kw_only=True)
class SASRecTrainConfig(TrainConfig):
    """sidkit's ``TrainConfig`` with SASRec's defaults: batch 256, Adam(W) lr 1e-3 without
    weight decay, at most 30 epochs, early stopping after 5 evaluations (one per epoch)
    without improvement of the monitored validation metric."""

    epochs: int = _redefault(TrainConfig, "epochs", 30)
    early_stopping_patience: int = _redefault(TrainConfig, "early_stopping_patience", 5)


@attrs.frozen(kw_only=True)
class SASRecModelConfig:
    """SASRec (Kang & McAuley 2018): item-ID embeddings + learned positions, ``num_blocks``
    causal self-attention blocks (pre-layer-norm, residual, dropout, point-wise FFN), next
    item scored by dot product with the item embedding table.

    ``hidden``: embedding / model width. ``num_blocks``: self-attention blocks.
    ``num_heads``: attention heads (must divide ``hidden``). ``ffn``: inner width of the
    point-wise feed-forward layer. ``dropout``: on embeddings, attention weights and
    sub-layer outputs. ``max_len``: history items the model sees (the most recent ones).
    ``loss``: ``"bce"`` = binary cross-entropy with one sampled negative per position (the
    paper), ``"ce"`` = softmax cross-entropy over the whole catalog. ``windows``: training
    samples per training sequence, ``"last"`` = its most recent ``max_len + 1`` items (the
    paper), ``"all"`` = the whole sequence cut into windows of ``max_len + 1`` items that
    overlap by one, so every transition is trained on. ``monitor``: the validation metric
    early stopping and best-weights selection follow. ``train``: the shared training loop.
    """

    hidden: int = attrs.field(default=64, validator=at_least(1))
    num_blocks: int = attrs.field(default=2, validator=at_least(1))
    num_heads: int = attrs.field(default=2, validator=[at_least(1), _divides_hidden])
    ffn: int = attrs.field(default=256, validator=at_least(1))
    dropout: float = attrs.field(default=0.3, validator=_dropout)
    max_len: int = attrs.field(default=50, validator=between(1, 4096))
    loss: str = attrs.field(default="bce", validator=one_of(LOSSES))
    windows: str = attrs.field(default="last", validator=one_of(WINDOWS))
    monitor: str = attrs.field(default="ndcg@10", validator=_monitor)
    train: SASRecTrainConfig = attrs.field(factory=SASRecTrainConfig)
