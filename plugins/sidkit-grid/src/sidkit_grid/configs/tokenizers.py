"""Configs of the tokenizers ``rkmeans``, ``rvq`` and ``rqvae`` (attrs only: cheap to import)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, between, each_at_least, greater_than, one_of

__all__ = ["DEDUP_MODES", "OPTIMIZERS", "TokenizerConfig", "RKMeansConfig", "RVQConfig", "RQVAEConfig"]

DEDUP_MODES = ("digit", "random", "none")
OPTIMIZERS = ("adagrad", "adam", "adamw", "sgd")


def _tuple_of_ints(value):
    return tuple(int(v) for v in value)


def _digit_only(inst, attribute, value) -> None:
    if value and inst.dedup != "digit":
        raise ValueError(f"{attribute.name} needs dedup = 'digit' (the level it sizes), got dedup = {inst.dedup!r}")


@attrs.frozen(kw_only=True)
class TokenizerConfig:
    """Options every GRID tokenizer shares.

    ``levels``: SID length L before de-duplication (1..16). ``codebook_size``: codes per
    level W (2..65536). ``dedup``: what to do with items sharing all L codes — ``"digit"``
    appends TIGER's extra level numbering them 0, 1, 2 ...; ``"random"`` and ``"none"``
    keep the collisions (the decoder breaks ties among a SID's items randomly, resp. by
    item index). ``dedup_size`` (``"digit"`` only): the extra level's vocabulary; 0 = the
    largest group of colliding items (TIGER), n > 0 = always n codes (assignment fails,
    naming the group's size, when more than n items share their L codes), so SIDs
    re-assigned later keep the vocabulary a model was built for (DIGER: 256).
    ``seed``: added to the run's seed.
    """

    levels: int = attrs.field(default=3, validator=between(1, 16))
    codebook_size: int = attrs.field(default=256, validator=between(2, 65536))
    dedup: str = attrs.field(default="digit", validator=one_of(DEDUP_MODES))
    dedup_size: int = attrs.field(default=0, validator=[between(0, 65536), _digit_only])
    seed: int = 0


@attrs.frozen(kw_only=True)
class RKMeansConfig(TokenizerConfig):
    """Residual mini-batch k-means (GRID's default tokenizer).

    ``steps_per_level`` mini-batches of ``batch_size`` residuals per level;
    ``normalize_residuals`` L2-normalises the residual before every level (the input
    included); ``reseed_every``: every that many steps, centroids that received no point
    since the last check are re-seeded at the batch points farthest from their centroid
    (0 disables; empty clusters are always re-seeded after the last step).
    """

    steps_per_level: int = attrs.field(default=1000, validator=at_least(1))
    batch_size: int = attrs.field(default=2048, validator=at_least(1))
    normalize_residuals: bool = True
    reseed_every: int = attrs.field(default=100, validator=at_least(0))


@attrs.frozen(kw_only=True)
class RVQConfig(TokenizerConfig):
    """Residual vector quantisation trained level by level with Adam.

    Each level's codebook starts from k-means++ samples of that level's residuals and is
    trained for ``steps_per_level`` steps of ``batch_size`` to minimise ``‖sg(r) − e‖²``
    with Adam (``lr``). ``normalize_residuals`` and ``reseed_every`` as in ``rkmeans``
    (dead codes are re-seeded at far residuals).
    """

    steps_per_level: int = attrs.field(default=1000, validator=at_least(1))
    batch_size: int = attrs.field(default=2048, validator=at_least(1))
    lr: float = attrs.field(default=1e-3, validator=greater_than(0.0))
    normalize_residuals: bool = True
    reseed_every: int = attrs.field(default=100, validator=at_least(0))


@attrs.frozen(kw_only=True)
class RQVAEConfig(TokenizerConfig):
    """RQ-VAE: MLP encoder → ``levels`` residual codebooks → MLP decoder.

    ``hidden_dims`` (encoder; the decoder mirrors it) and ``latent_dim`` default to TIGER's
    512→256→128→32. Loss = reconstruction MSE + Σ_levels [‖sg(r) − e‖² + ``beta``·‖r − sg(e)‖²].
    ``optimizer`` (adagrad | adam | adamw | sgd) with ``lr`` and ``weight_decay``; ``steps``
    mini-batches of ``batch_size``. Default: AdaGrad with GRID's lr 1e-3 (TIGER's 0.4
    diverges on L2-normalised sentence embeddings; see the plugin docs). ``whiten`` PCA-whitens the input embeddings first
    (GRID). ``kmeans_init`` initialises the codebooks by k-means on the first batch's
    residuals. ``reseed_every``: codes unused for that many steps are re-seeded at far
    residuals of the current batch (0 disables).
    """

    hidden_dims: tuple[int, ...] = attrs.field(
        default=(512, 256, 128), converter=_tuple_of_ints, validator=each_at_least(1)
    )
    latent_dim: int = attrs.field(default=32, validator=at_least(1))
    beta: float = attrs.field(default=0.25, validator=at_least(0.0))
    steps: int = attrs.field(default=3000, validator=at_least(1))
    batch_size: int = attrs.field(default=1024, validator=at_least(1))
    optimizer: str = attrs.field(default="adagrad", validator=one_of(OPTIMIZERS))
    lr: float = attrs.field(default=1e-3, validator=greater_than(0.0))
    weight_decay: float = attrs.field(default=0.0, validator=at_least(0.0))
    whiten: bool = False
    kmeans_init: bool = True
    reseed_every: int = attrs.field(default=100, validator=at_least(0))
