"""Validation that feeds early stopping with one metric and keeps all of them in the history.

``ctx.validate(generator)`` returns a dict of metrics; :func:`sidkit.training.fit` wants one
float (higher is better). :class:`Monitor` adapts the first to the second and, through its
``on_epoch_end``, writes every metric of that validation into the epoch's history record as
``valid/<name>`` (so a run's curves show Recall@10 even when it stops on NDCG@10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import SidkitError

__all__ = ["Monitor"]


class Monitor:
    """``Monitor(validate, metric, who)``: call it (as ``fit``'s ``validate``) to run
    ``validate()`` and get ``metric``; pass :meth:`on_epoch_end` as ``fit``'s ``on_epoch_end``."""

    def __init__(self, validate: Callable[[], dict[str, float]], metric: str, who: str):
        self.validate, self.metric, self.who = validate, metric, who
        self._last: dict[str, float] | None = None

    def __call__(self, _model: Any = None) -> float:
        metrics = {k: float(v) for k, v in self.validate().items()}
        if self.metric not in metrics:
            raise SidkitError(
                f"{self.who}: validation returned no {self.metric!r} (got {', '.join(sorted(metrics)) or 'nothing'}); "
                "set monitor to one of them, or add its cutoff to the evaluator's ks"
            )
        self._last = metrics
        return metrics[self.metric]

    def on_epoch_end(self, _epoch: int, record: dict[str, Any]) -> None:
        """Add the metrics of the validation run since the last call to ``record``."""
        if self._last is not None:
            record.update({f"valid/{k}": v for k, v in sorted(self._last.items())})
            self._last = None
