"""Evaluation: ranking metrics, reference baselines and SID statistics (numpy/scipy only)."""

from .baselines import (
    BASELINES,
    TIES,
    baseline_metrics,
    eval_segments,
    markov_rankings,
    mostpop_rankings,
    popularity,
    transition_counts,
)
from .configs import RankingEvaluatorConfig
from .evaluator import RankingEvaluator
from .history_filter import drop_history_items, history_mask
from .ranking import METRICS, check_ks, hit_positions, ranking_metrics
from .sid_stats import prefix_groups, sid_change_rate, sid_statistics

__all__ = [
    "ranking_metrics",
    "hit_positions",
    "check_ks",
    "METRICS",
    "mostpop_rankings",
    "markov_rankings",
    "baseline_metrics",
    "popularity",
    "transition_counts",
    "eval_segments",
    "drop_history_items",
    "history_mask",
    "BASELINES",
    "TIES",
    "sid_statistics",
    "sid_change_rate",
    "prefix_groups",
    "RankingEvaluator",
    "RankingEvaluatorConfig",
]
