"""Configs of the generators ``tiger`` and ``decoder-only`` (attrs + sidkit's training config only).

Training defaults are GRID's (AdamW, lr 5e-4, weight decay 1e-6, batch 256, early stopping
on NDCG@10); ``epochs`` is kept modest so a CPU run finishes. The GRID defaults live on
subclasses of sidkit's ``TrainConfig``/``OptimConfig``, so a partial ``[generator.train]``
or ``[generator.train.optim]`` table keeps them for the keys it does not set.
"""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, between, one_of
from sidkit.training.config import OptimConfig, TrainConfig

__all__ = [
    "GridOptimConfig",
    "GridTrainConfig",
    "TigerConfig",
    "DecoderOnlyConfig",
    "MONITORS",
    "ACTIVATIONS",
    "WINDOWS",
]

ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu")
MONITORS = ("ndcg@10", "recall@10")
WINDOWS = ("all", "sliding", "sample")
TIGER_WINDOWS = ("sliding", "sample", "all")


def _redefault(cls: type, name: str, default):
    """Field ``name`` of ``cls`` with another default (same validator)."""
    return attrs.field(default=default, validator=getattr(attrs.fields(cls), name).validator)


@attrs.frozen(kw_only=True)
class GridOptimConfig(OptimConfig):
    """GRID's optimizer: AdamW, lr 5e-4, weight decay 1e-6."""

    lr: float = _redefault(OptimConfig, "lr", 5e-4)
    weight_decay: float = _redefault(OptimConfig, "weight_decay", 1e-6)


@attrs.frozen(kw_only=True)
class GridTrainConfig(TrainConfig):
    """sidkit's ``TrainConfig`` with GRID's defaults: batch 256, GRID optimizer, early
    stopping after 5 evaluations (one per epoch) without improvement, 20 epochs at most."""

    epochs: int = _redefault(TrainConfig, "epochs", 20)
    optim: GridOptimConfig = attrs.field(factory=GridOptimConfig)
    early_stopping_patience: int = _redefault(TrainConfig, "early_stopping_patience", 5)


@attrs.frozen(kw_only=True)
class _SequenceModelConfig:
    """Options both generators share.

    ``max_len``: history items fed to the model (the last ones; GRID: 20). ``user_buckets``:
    TIGER user tokens, the user index hashed into that many buckets and prepended (0 = off,
    GRID's best). ``d_model``/``d_ff``/``num_heads``/``dropout``/``activation``: transformer
    sizes. ``monitor``: the validation metric early stopping and best-checkpoint selection
    follow. ``samples_per_sequence``: with ``windows = "sample"``, the random prefixes each
    training sequence gives per epoch. ``attn_dropout``: dropout on the attention
    probabilities (unset = ``dropout``); 0 lets bf16 training on CPU use torch's fused
    attention kernel (:mod:`sidkit_grid.generators.attention`) and skips drawing a mask
    over every ``[batch, heads, T, S]`` probability. ``train``: the shared training loop's
    settings.
    """

    max_len: int = attrs.field(default=20, validator=between(1, 512))
    user_buckets: int = attrs.field(default=0, validator=at_least(0))
    d_model: int = attrs.field(default=128, validator=at_least(1))
    d_ff: int = attrs.field(default=1024, validator=at_least(1))
    num_heads: int = attrs.field(default=6, validator=at_least(1))
    dropout: float = attrs.field(default=0.1, validator=between(0.0, 1.0))
    activation: str = attrs.field(default="relu", validator=one_of(ACTIVATIONS))
    monitor: str = attrs.field(default="ndcg@10", validator=one_of(MONITORS))
    samples_per_sequence: int = attrs.field(default=1, validator=at_least(1))
    attn_dropout: float | None = attrs.field(default=None, validator=attrs.validators.optional(between(0.0, 1.0)))
    train: GridTrainConfig = attrs.field(factory=GridTrainConfig)

    @property
    def attention_dropout(self) -> float:
        """The dropout on the attention probabilities (``attn_dropout``, else ``dropout``)."""
        return self.dropout if self.attn_dropout is None else self.attn_dropout


@attrs.frozen(kw_only=True)
class TigerConfig(_SequenceModelConfig):
    """TIGER's T5 encoder–decoder; defaults are GRID's (4 + 4 layers, 6 heads × ``d_kv`` 64,
    ``d_model`` 128, ``d_ff`` 1024, dropout 0.1, ReLU). ``relative_attention_buckets``: T5's
    relative-position buckets. ``windows``: ``"sliding"`` (every prefix of a history is a sample,
    GRID), ``"sample"`` (``samples_per_sequence`` random prefixes per history and epoch) or
    ``"all"`` (an encoder causal over items, so one pass over a window of ``max_len + 1`` items
    trains every target in it: a different model from GRID's, see the generator module)."""

    windows: str = attrs.field(default="sliding", validator=one_of(TIGER_WINDOWS))
    encoder_layers: int = attrs.field(default=4, validator=at_least(1))
    decoder_layers: int = attrs.field(default=4, validator=at_least(1))
    d_kv: int = attrs.field(default=64, validator=at_least(1))
    relative_attention_buckets: int = attrs.field(default=32, validator=at_least(2))


def _divides_d_model(inst, attribute, value) -> None:
    if inst.d_model % value:
        raise ValueError(f"{attribute.name} must divide d_model={inst.d_model}, got {value!r}")


@attrs.frozen(kw_only=True)
class DecoderOnlyConfig(_SequenceModelConfig):
    """GPT-2 causal LM over ``BOS, history tokens, target tokens``. ``num_layers`` defaults
    to 8 (the depth of TIGER's 4 + 4); ``num_heads`` must divide ``d_model`` (default 4 ×
    32). ``windows``: ``"all"`` (default) trains every item of a window of ``max_len + 1``
    items in one causal pass (windows overlap by one item, so every training transition is
    a target exactly once); ``"sliding"`` makes every prefix a separate sample (GRID);
    ``"sample"`` draws ``samples_per_sequence`` random prefixes per history and epoch.
    ``attn_dropout`` is GPT-2's ``attn_pdrop``; 0 makes a bf16 step about twice as fast at
    30 items × 4 levels (``benchmarks/attention_speed.py``)."""

    windows: str = attrs.field(default="all", validator=one_of(WINDOWS))
    num_layers: int = attrs.field(default=8, validator=at_least(1))
    num_heads: int = attrs.field(default=4, validator=[at_least(1), _divides_d_model])
