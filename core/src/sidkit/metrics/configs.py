"""Config classes of the core's evaluators (attrs only: cheap to import)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["RankingEvaluatorConfig"]


def _positive_ints(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    ok = (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in value)
    )
    if not ok:
        raise ValueError(f"{attribute.name} must be a non-empty list of positive integers (cutoffs K), got {value!r}")


@attrs.frozen(kw_only=True)
class RankingEvaluatorConfig:
    """``ks``: the cutoffs K of Recall@K, NDCG@K and HR@K (e.g. ``[5, 10]``). Rankings are
    requested ``max(ks)`` deep."""

    ks: list[int] = attrs.field(factory=lambda: [5, 10], validator=_positive_ints)
