"""Config of the generator ``sasrec`` (attrs only: cheap to import)."""

from __future__ import annotations

import attrs

from .sasrec import SASRecModelConfig

__all__ = ["SASRecGeneratorConfig"]


@attrs.frozen(kw_only=True)
class SASRecGeneratorConfig(SASRecModelConfig):
    """SASRec as a ranking model: trained on ``ctx.split.train`` exactly like the ``sasrec``
    encoder (same options), it ignores the SID table except for its number of items and
    scores every item with ``score_items``, for the ``item-scores`` decoder. Early stopping
    follows ``ctx.validate`` (the pipeline's decoder + evaluator) when there is one, else
    the model's own full-catalog ``monitor`` on ``ctx.split.valid``."""
