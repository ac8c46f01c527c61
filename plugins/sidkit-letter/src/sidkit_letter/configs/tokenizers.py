"""Config of the tokenizer ``letter`` (attrs only: importing it never imports torch)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, between, greater_than, one_of
from sidkit_grid.api import OPTIMIZERS, RQVAEConfig

__all__ = ["LetterConfig", "INPUTS", "SIMILARITIES", "CF_PROJECTIONS", "LEVEL_REDUCTIONS"]

INPUTS = ("values", "content", "collaborative", "concat")
SIMILARITIES = ("dot", "cos")
CF_PROJECTIONS = ("auto", "linear")
LEVEL_REDUCTIONS = ("sum", "mean")


@attrs.frozen(kw_only=True)
class LetterConfig(RQVAEConfig):
    """LETTER (Wang et al., CIKM 2024): GRID's RQ-VAE plus a collaborative contrastive
    regulariser, a code-diversity regulariser and Sinkhorn-balanced collision handling.

    Every ``rqvae`` option works unchanged. Defaults that differ from ``rqvae`` follow the
    authors' script (HonghuiBao2000/LETTER, ``RQ-VAE/main.py``):

    - ``levels = 4``: the authors' code trains 4 levels of 256 codes of 32 dims. The paper
      speaks of 3 levels "plus a collision step"; in the code that step *is* the 4th level,
      whose code is picked with Sinkhorn-balanced assignment (training and collision rounds),
      so the released IDs have 4 tokens. 4 levels is what the published LETTER-TIGER numbers use.
    - ``optimizer = "adamw"``, ``lr = 1e-3``, ``weight_decay = 1e-4``, ``batch_size = 1024``.

    LETTER's own options:

    - ``cf_weight`` (α, default 0.01; the authors use 0.1 on Beauty): weight of the in-batch
      contrastive loss between the straight-through quantised latent ẑ and the item's
      collaborative embedding h. 0 disables it (and the collaborative view is then not needed).
    - ``cf_temperature`` (1.0): logits are ``sim(ẑ, h) / cf_temperature``.
    - ``similarity``: ``"dot"`` (LETTER, raw dot product) or ``"cos"`` (DACT's restatement).
    - ``cf_projection``: ``"auto"`` compares ẑ with h directly when their widths match (the
      authors: 32-d SASRec vs 32-d latent) and through a learned bias-free linear map
      h → ``latent_dim`` otherwise; ``"linear"`` always uses the map.
    - ``div_weight`` (β_div, 1e-4): weight of the code-diversity loss (mean over levels).
    - ``div_groups`` (10): groups the code vectors of each level are clustered into once per
      epoch; positives are drawn from the selected code's group. At most
      ``codebook_size // 2`` groups are used so that every group can hold two codes.
    - ``level_reduction``: ``"sum"`` (GRID's ``rqvae``: codebook and commitment terms summed
      over levels) or ``"mean"`` (the authors' code: averaged over levels).
    - ``input``: the matrix that is quantised (and reconstructed): ``"content"``
      (``views["content"]``, LETTER), ``"values"`` (the main matrix of whatever encoder ran),
      ``"collaborative"`` (``views["collaborative"]``) or ``"concat"`` (content and
      collaborative side by side). The collaborative view is always the target of the
      contrastive loss and must exist when ``cf_weight > 0``.
    - ``kmeans_init_catalog``: with ``kmeans_init``, initialise the codebooks by k-means on
      the encoded residuals of the whole catalog (LETTER; a random sample of 16,384 items
      beyond that) instead of the first batch (TIGER / ``rqvae``).
    - ``sinkhorn_epsilon`` (0.003), ``sinkhorn_iters`` (50): entropic regularisation and
      iterations of the Sinkhorn-Knopp balanced assignment (on distances min-max scaled to
      [−1, 1]).
    - ``sinkhorn_train`` (true): pick the last level's codes in training by balanced
      assignment over the batch (evaluation and ``assign`` use plain argmin).
    - ``collision_rounds`` (20): after argmin assignment, up to that many rounds re-encode only
      the items that share all ``levels`` codes, choosing their last-level code by Sinkhorn
      within each colliding group. 0 disables it. ``dedup`` applies afterwards.
    """

    levels: int = attrs.field(default=4, validator=between(1, 16))
    optimizer: str = attrs.field(default="adamw", validator=one_of(OPTIMIZERS))
    lr: float = attrs.field(default=1e-3, validator=greater_than(0.0))
    weight_decay: float = attrs.field(default=1e-4, validator=at_least(0.0))
    batch_size: int = attrs.field(default=1024, validator=at_least(1))

    cf_weight: float = attrs.field(default=0.01, validator=at_least(0.0))
    cf_temperature: float = attrs.field(default=1.0, validator=greater_than(0.0))
    similarity: str = attrs.field(default="dot", validator=one_of(SIMILARITIES))
    cf_projection: str = attrs.field(default="auto", validator=one_of(CF_PROJECTIONS))
    div_weight: float = attrs.field(default=1e-4, validator=at_least(0.0))
    div_groups: int = attrs.field(default=10, validator=at_least(2))
    level_reduction: str = attrs.field(default="sum", validator=one_of(LEVEL_REDUCTIONS))
    input: str = attrs.field(default="content", validator=one_of(INPUTS))
    kmeans_init_catalog: bool = True
    sinkhorn_epsilon: float = attrs.field(default=0.003, validator=greater_than(0.0))
    sinkhorn_iters: int = attrs.field(default=50, validator=at_least(1))
    sinkhorn_train: bool = True
    collision_rounds: int = attrs.field(default=20, validator=at_least(0))
