"""The core's own components, registered through the same hook as every plugin."""

from __future__ import annotations

from .encoders.configs import PrecomputedConfig
from .metrics.configs import RankingEvaluatorConfig
from .registry import hookimpl


@hookimpl
def sidkit_register_components(register):
    register(
        kind="encoder",
        name="precomputed",
        factory="sidkit.encoders.precomputed:PrecomputedEncoder",
        config=PrecomputedConfig,
        description="Item embeddings read from a .safetensors or .npy file",
    )
    register(
        kind="evaluator",
        name="ranking",
        factory="sidkit.metrics.evaluator:RankingEvaluator",
        config=RankingEvaluatorConfig,
        description="Recall/NDCG/HR@K against the full catalog",
    )
