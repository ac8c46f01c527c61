"""Configs of the tokenizer and generator ``diger`` (attrs only: importing them never imports torch)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, greater_than, in_range, one_of
from sidkit.training.config import ParamGroupConfig
from sidkit_grid.api import GridOptimConfig, GridTrainConfig, RQVAEConfig, TigerConfig

__all__ = [
    "ASSIGNMENTS",
    "NOISES",
    "BRIDGES",
    "TOKENS",
    "TOKENIZER_PREFIX",
    "DigerTokenizerConfig",
    "DigerOptimConfig",
    "DigerTrainConfig",
    "DigerConfig",
]

ASSIGNMENTS = ("gumbel", "gaussian", "ste")
NOISES = ("frqud", "sdud", "both", "none")
BRIDGES = ("soft", "detached")
TOKENS = ("argmin", "sampled")
TOKENIZER_PREFIX = "tokenizer."
"""Parameter-name prefix of the tokenizer inside the generator's joint model (for ``optim.groups``)."""


@attrs.frozen(kw_only=True)
class DigerTokenizerConfig(RQVAEConfig):
    """``rqvae`` with DIGER's layout: 3 levels of 256 codes plus a conflict level of a fixed
    256 codes (``dedup_size``), so SIDs re-assigned during joint training keep the
    generator's vocabulary. Every ``rqvae`` option works unchanged."""

    dedup_size: int = attrs.field(default=256, validator=attrs.fields(RQVAEConfig).dedup_size.validator)


def _tokenizer_group() -> dict[str, ParamGroupConfig]:
    return {TOKENIZER_PREFIX: ParamGroupConfig(lr=1e-6)}


@attrs.frozen(kw_only=True)
class DigerOptimConfig(GridOptimConfig):
    """AdamW, recommender lr 1e-3, weight decay 0.05 (the authors'), and the tokenizer at
    lr 1e-6 (``groups``; the issue's range is 1e-4 to 1e-6, the authors' Beauty script 5e-4).
    An RQ-VAE's latents are small (pretrained on MiniLM vectors: reconstruction MSE ~1e-3),
    and Adam moves every weight by about lr per step: on the synthetic data one epoch at
    1e-5 changed 99 % of the SIDs, at 1e-6 33 %."""

    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, lo_open=True))
    weight_decay: float = attrs.field(default=0.05, validator=in_range(0.0))
    groups: dict[str, ParamGroupConfig] = attrs.field(factory=_tokenizer_group, hash=False)


@attrs.frozen(kw_only=True)
class DigerTrainConfig(GridTrainConfig):
    """GRID's training defaults with :class:`DigerOptimConfig`."""

    optim: DigerOptimConfig = attrs.field(factory=DigerOptimConfig)


def _no_user_tokens(_inst, attribute, value) -> None:
    if value != 0:
        raise ValueError(f"{attribute.name} must be 0 for diger (user tokens are not supported), got {value!r}")


@attrs.frozen(kw_only=True)
class DigerConfig(TigerConfig):
    """TIGER's T5 trained jointly with a copy of the run's RQ-VAE tokenizer (DIGER).

    T5 sizes are the authors' (6 + 6 layers, d_model 128, d_ff 512, 4 heads × 64).
    ``windows``: as ``tiger``'s; ``"all"`` trains the item-causal T5 on every position of a
    window in one pass (not the authors' model; sidkit-grid's ``grid-generation.md``).

    - ``bridge``: ``"soft"`` (the paper) embeds every history and target token as
      ``shared(c) + (y − sg(y))·W_l``, so the recommendation loss reaches the codebooks and
      the tokenizer's encoder; ``"detached"`` (the authors' released code) feeds plain
      tokens, re-assigns the SIDs after every epoch and trains the codebooks by the VQ and
      reconstruction losses alone.
    - ``assignment``: ``"gumbel"`` (y = softmax((ℓ + σg)/τ), g ~ Gumbel(0, 1), c =
      argmax(ℓ + σg)), ``"gaussian"`` (g ~ N(0, 1): the ablation) or ``"ste"`` (the naive
      baseline: c = argmin, no noise, hard selection E[c], and a one-hot whose gradient
      reaches only the selected code's logit, so codes no item selects never learn).
    - ``noise`` (uncertainty decay, for gumbel/gaussian): ``"frqud"`` (items whose level-1
      code is hot, EMA frequency > ``hot_ratio``/K, get noise of scale ``sigma_init`` at
      every level; the others none), ``"sdud"`` (every item gets noise of a learned
      per-level scale σ, trained by L_σ = L_gen / (2(σ̄ + λ)²) + log(σ̄ + λ)), ``"both"``
      (hot items get the learned scale) or ``"none"`` (every item, fixed scale
      ``sigma_init``; 0 = no noise).
    - ``tokens`` (soft bridge): ``"argmin"`` (default) feeds the T5 the codes of the
      deterministic argmin chain, the SIDs that validation, test and ``recommend`` use, with
      the gradient of ``y = softmax(ℓ/τ)`` on that chain; the sampled codes then only enter
      the tokenizer's VQ/reconstruction losses, as in the authors' code. ``"sampled"`` feeds
      it the exploring chain's sampled codes (the paper read literally): with min-max
      logits and τ = 2 a hot item's sampled path is close to uniform at any useful σ, and
      the T5 learns noise (synthetic data: test R@10 0.049 against 0.090 for argmin with the
      tokenizer frozen).
    - ``soft_update`` (true): the codebook and logits get the soft update's gradient; false
      selects plain ``E[c]`` (only selected codes learn, L_gen does not reach the tokenizer:
      the "w/o soft update" ablation).
    - ``tau`` (2.0, fixed), ``minmax_logits`` (scale the batch's distances to [−1, 1] before
      ℓ = −d), ``sigma_init`` (1.0), ``sdud_lambda`` (λ, 1.7), ``ema_decay`` (0.99),
      ``hot_ratio`` (1.5), ``beta`` (0.25, commitment weight of the VQ loss).
    """

    encoder_layers: int = attrs.field(default=6, validator=at_least(1))
    decoder_layers: int = attrs.field(default=6, validator=at_least(1))
    d_ff: int = attrs.field(default=512, validator=at_least(1))
    num_heads: int = attrs.field(default=4, validator=at_least(1))
    user_buckets: int = attrs.field(default=0, validator=_no_user_tokens)
    train: DigerTrainConfig = attrs.field(factory=DigerTrainConfig)

    bridge: str = attrs.field(default="soft", validator=one_of(BRIDGES))
    assignment: str = attrs.field(default="gumbel", validator=one_of(ASSIGNMENTS))
    noise: str = attrs.field(default="frqud", validator=one_of(NOISES))
    tau: float = attrs.field(default=2.0, validator=greater_than(0.0))
    minmax_logits: bool = True
    sigma_init: float = attrs.field(default=1.0, validator=at_least(0.0))
    sdud_lambda: float = attrs.field(default=1.7, validator=greater_than(0.0))
    ema_decay: float = attrs.field(default=0.99, validator=in_range(0.0, 1.0, hi_open=True))
    hot_ratio: float = attrs.field(default=1.5, validator=greater_than(0.0))
    beta: float = attrs.field(default=0.25, validator=at_least(0.0))
    tokens: str = attrs.field(default="argmin", validator=one_of(TOKENS))
    soft_update: bool = True
