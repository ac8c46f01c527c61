"""Evaluator ``ranking``: Recall/NDCG/HR@K against the full catalog."""

from __future__ import annotations

from typing import Any

from ..types import EvalSet, Rankings
from .configs import RankingEvaluatorConfig
from .ranking import check_ks, ranking_metrics

__all__ = ["RankingEvaluator"]


class RankingEvaluator:
    """Mean ``recall@K``, ``ndcg@K`` and ``hr@K`` for every ``K`` in ``config.ks``, plus
    ``n_examples`` (examples with at least one positive). History items are not filtered
    (see :mod:`sidkit.metrics.ranking`)."""

    def __init__(self, config: RankingEvaluatorConfig | None = None):
        self.config = config if config is not None else RankingEvaluatorConfig()
        self.ks: tuple[int, ...] = check_ks(self.config.ks)
        self.required_k: int = self.ks[-1]

    def evaluate(self, rankings: Rankings, examples: EvalSet, ctx: Any = None) -> dict[str, float]:
        if len(rankings) != len(examples):
            raise ValueError(
                f"rankings have {len(rankings)} rows but there are {len(examples)} examples: "
                "need exactly one ranking per example"
            )
        return ranking_metrics(rankings, examples.targets, self.ks)

    def __repr__(self) -> str:
        return f"RankingEvaluator(ks={list(self.ks)})"
