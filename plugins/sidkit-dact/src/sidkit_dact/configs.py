"""Configs of every sidkit-dact component (attrs only: importing them never imports torch)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, between, greater_than, in_range, one_of
from sidkit_letter.api import LetterConfig

__all__ = ["DactConfig", "DactUpdaterConfig", "FrozenConfig", "FinetuneConfig", "ReformerConfig"]


_LETTER = attrs.fields_dict(LetterConfig)  # re-declared fields keep letter's converters and validators


@attrs.frozen(kw_only=True)
class DactConfig(LetterConfig):
    """The ``dact`` tokenizer: ``letter`` with DACT's defaults (encoder 512→256→128→64→32,
    3 levels × 256 codes, cosine collaborative loss of weight 0.02, no diversity loss, no
    Sinkhorn in training or collision rounds, a fixed 256-code de-dup level) plus the drift
    detector CDIM (``cdim_slots`` memory slots, ``cdim_hidden`` value width, attention
    temperature ``cdim_tau``), which the ``dact`` sid-updater trains and which warm-starts
    from period to period as part of the tokenizer's state."""

    hidden_dims: tuple[int, ...] = attrs.field(
        default=(512, 256, 128, 64), converter=_LETTER["hidden_dims"].converter, validator=_LETTER["hidden_dims"].validator
    )
    levels: int = attrs.field(default=3, validator=between(1, 16))
    cf_weight: float = attrs.field(default=0.02, validator=at_least(0.0))
    similarity: str = attrs.field(default="cos", validator=one_of(("dot", "cos")))
    div_weight: float = attrs.field(default=0.0, validator=at_least(0.0))
    sinkhorn_train: bool = False
    collision_rounds: int = attrs.field(default=0, validator=at_least(0))
    dedup_size: int = attrs.field(default=256, validator=_LETTER["dedup_size"].validator)
    cdim_slots: int = attrs.field(default=32, validator=at_least(1))
    cdim_hidden: int = attrs.field(default=64, validator=at_least(2))
    cdim_tau: float = attrs.field(default=0.1, validator=greater_than(0.0))


@attrs.frozen(kw_only=True)
class DactUpdaterConfig:
    """The ``dact`` sid-updater (one period's drift-aware fine-tuning, then relaxed-to-strict
    re-assignment). Defaults: the authors' scripts (spec ``dact.md``).

    ``steps`` mini-batches of ``batch_size`` items; AdamW (``lr``, ``weight_decay``), a linear
    schedule whose first ``warmup`` share of the steps warms up, gradient norm clipped at
    ``grad_clip`` (0 = off). ``rho``: share of each mini-batch the top-ρ mask marks drifting;
    ``alpha``: weight of the stationary pass; ``gamma``: weight of the layer-1 KL;
    ``tau_g``: its temperature; ``kl_per_code``: divide the KL by the codebook size (the
    authors' code); ``anchor`` (λ_a): weight of MSE(v, z_old) in the stationary pass;
    ``conf_weight``: weight of L_conf = mean c². ``cdim = false`` turns the detector off:
    every row is drifting (m = 1). ``seed`` is added to the run's seed (batch order).
    """

    steps: int = attrs.field(default=500, validator=at_least(0))
    batch_size: int = attrs.field(default=1024, validator=at_least(1))
    lr: float = attrs.field(default=1e-4, validator=greater_than(0.0))
    weight_decay: float = attrs.field(default=1e-4, validator=at_least(0.0))
    warmup: float = attrs.field(default=0.01, validator=in_range(0.0, 1.0, hi_open=True))
    grad_clip: float = attrs.field(default=1.0, validator=at_least(0.0))
    rho: float = attrs.field(default=0.3, validator=in_range(0.0, 1.0, lo_open=True))
    alpha: float = attrs.field(default=0.1, validator=at_least(0.0))
    gamma: float = attrs.field(default=5.0, validator=at_least(0.0))
    tau_g: float = attrs.field(default=1.0, validator=greater_than(0.0))
    kl_per_code: bool = False
    anchor: float = attrs.field(default=1.0, validator=at_least(0.0))
    conf_weight: float = attrs.field(default=1e-3, validator=at_least(0.0))
    cdim: bool = True
    seed: int = 0


@attrs.frozen(kw_only=True)
class FrozenConfig:
    """``tok-frozen``: nothing to set (the tokenizer is not trained)."""


@attrs.frozen(kw_only=True)
class FinetuneConfig:
    """``tok-finetune``: ``steps`` mini-batches of the tokenizer's own loss from its current
    weights (``RQVAETokenizer.finetune``), at ``lr`` (unset: the tokenizer's own), then every
    item re-assigned."""

    steps: int = attrs.field(default=500, validator=at_least(0))
    lr: float | None = attrs.field(default=None, validator=in_range(0.0, lo_open=True))


@attrs.frozen(kw_only=True)
class ReformerConfig:
    """``reformer``: the same fine-tuning as ``tok-finetune``; only new items take its codes."""

    steps: int = attrs.field(default=500, validator=at_least(0))
    lr: float | None = attrs.field(default=None, validator=in_range(0.0, lo_open=True))
