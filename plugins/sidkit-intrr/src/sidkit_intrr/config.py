"""Config of the ``intrr`` generator (attrs and sidkit's training config only: cheap to import).

Training defaults are the IntRR paper's (Adam, lr 1e-3, weight decay 1e-4, batch 512). They
live on subclasses of sidkit's ``TrainConfig``/``OptimConfig``, so a partial
``[generator.train]`` or ``[generator.train.optim]`` table keeps them for the keys it leaves out.
"""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, between, in_range, one_of
from sidkit.training.config import OptimConfig, TrainConfig

__all__ = [
    "IntRRConfig",
    "IntRROptimConfig",
    "IntRRTrainConfig",
    "ACTIVATIONS",
    "BACKBONES",
    "MONITORS",
    "RAN_CONTEXTS",
    "REDISTRIBUTIONS",
    "WINDOWS",
]

ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu")
BACKBONES = ("gpt2",)
MONITORS = ("ndcg@10", "recall@10")
REDISTRIBUTIONS = ("ste", "soft", "none")
RAN_CONTEXTS = ("previous", "prefix")
WINDOWS = ("all", "sliding")


def _redefault(cls: type, name: str, default):
    """Field ``name`` of ``cls`` with another default (same validator)."""
    return attrs.field(default=default, validator=getattr(attrs.fields(cls), name).validator)


@attrs.frozen(kw_only=True)
class IntRROptimConfig(OptimConfig):
    """The paper's optimizer: Adam, lr 1e-3, weight decay 1e-4."""

    name: str = _redefault(OptimConfig, "name", "adam")
    weight_decay: float = _redefault(OptimConfig, "weight_decay", 1e-4)


@attrs.frozen(kw_only=True)
class IntRRTrainConfig(TrainConfig):
    """sidkit's ``TrainConfig`` with the paper's batch of 512, its optimizer, at most 20
    epochs and early stopping after 5 evaluations without improvement."""

    epochs: int = _redefault(TrainConfig, "epochs", 20)
    batch_size: int = _redefault(TrainConfig, "batch_size", 512)
    optim: IntRROptimConfig = attrs.field(factory=IntRROptimConfig)
    early_stopping_patience: int = _redefault(TrainConfig, "early_stopping_patience", 5)


def _divides_d_model(inst, attribute, value) -> None:
    if inst.d_model % value:
        raise ValueError(f"{attribute.name} must divide d_model={inst.d_model}, got {value!r}")


@attrs.frozen(kw_only=True)
class IntRRConfig:
    """IntRR: a recursive-assignment network (RAN) over the SID levels and a backbone that
    reads one vector per history item (``sdk_docs/plugins/intrr.md``).

    ``max_len``: history items read (the last ones). ``d_model``/``num_layers``/``num_heads``/
    ``d_ff``/``dropout``/``activation``: the ``backbone`` (``"gpt2"``: transformers'
    ``GPT2Model``, the blocks of grid's ``decoder-only``). ``item_dim``: width of the per-item
    UID embedding; ``mlp_hidden``: hidden width of the RAN's level MLPs. ``init_std``: standard
    deviation of the RAN codewords and the UID embedding at initialisation (the authors' code
    draws both from ``N(0, 1)``; ``0.02`` is GPT-2's scale).
    ``redistribution``: how the item side turns its level distributions into the item
    vector: ``"ste"`` (forward the argmax codeword, backward the softmax mixture), ``"soft"``
    (the mixture), ``"none"`` (the codewords of the item's given SID, no UID embedding in
    the item vector). ``aln_weight``: λ of the alignment loss. ``user_teacher_forcing``:
    the user side conditions level ``l`` on the target's codeword of level ``l - 1`` (else
    on its own prediction). ``shared_ran``: item and user side share one RAN (else each has
    its own codebooks and MLPs). ``ran_context``: what the RAN's level ``l`` reads of the
    levels before it: ``"previous"`` (the paper's ``z_{l−1}``) or ``"prefix"`` (``z_1 + … +
    z_{l−1}``, not in the paper: with residual codebooks a code, and a de-dup digit above
    all, means different things under different prefixes). ``windows``: ``"all"`` trains
    every position of a window of ``max_len + 1`` items in one causal pass, ``"sliding"``
    makes every prefix a sample. ``attn_dropout``: dropout on the backbone's attention
    probabilities (unset = ``dropout``); 0 lets bf16 training on CPU use torch's fused
    attention kernel (as grid's ``decoder-only``).
    ``monitor``: the validation metric early stopping follows.
    """

    max_len: int = attrs.field(default=30, validator=between(1, 1024))
    backbone: str = attrs.field(default="gpt2", validator=one_of(BACKBONES))
    d_model: int = attrs.field(default=256, validator=at_least(1))
    num_layers: int = attrs.field(default=4, validator=at_least(1))
    num_heads: int = attrs.field(default=8, validator=[at_least(1), _divides_d_model])
    d_ff: int = attrs.field(default=1024, validator=at_least(1))
    dropout: float = attrs.field(default=0.15, validator=between(0.0, 1.0))
    attn_dropout: float | None = attrs.field(default=None, validator=attrs.validators.optional(between(0.0, 1.0)))
    activation: str = attrs.field(default="relu", validator=one_of(ACTIVATIONS))
    item_dim: int = attrs.field(default=512, validator=at_least(1))
    mlp_hidden: int = attrs.field(default=512, validator=at_least(1))
    init_std: float = attrs.field(default=0.02, validator=in_range(0.0, lo_open=True))
    redistribution: str = attrs.field(default="ste", validator=one_of(REDISTRIBUTIONS))
    aln_weight: float = attrs.field(default=0.1, validator=in_range(0.0))
    user_teacher_forcing: bool = True
    shared_ran: bool = True
    ran_context: str = attrs.field(default="previous", validator=one_of(RAN_CONTEXTS))
    windows: str = attrs.field(default="all", validator=one_of(WINDOWS))
    monitor: str = attrs.field(default="ndcg@10", validator=one_of(MONITORS))
    train: IntRRTrainConfig = attrs.field(factory=IntRRTrainConfig)
