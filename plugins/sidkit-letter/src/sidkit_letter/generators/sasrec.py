"""Generator ``sasrec``: SASRec as an ID-based ranking model (the baseline next to the SID
generators in a results table). It trains on item IDs, ignores the SID table except for its
number of items, and scores the whole catalog for the ``item-scores`` decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from sidkit.artifacts import read_json
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training import Monitor, resolve_device
from sidkit.types import Ragged, SIDTable

from ..configs.generators import SASRecGeneratorConfig
from ..models.sasrec import SASRec, build_model, load_model, save_model, score_histories, train_sasrec

__all__ = ["SASRecGenerator", "WEIGHTS", "META"]

WEIGHTS, META = "model.safetensors", "meta.json"
NAME = "sasrec"


class SASRecGenerator:
    """SASRec behind the Generator protocol (``fit``/``save``/``load``) plus ``score_items``."""

    def __init__(self, config: SASRecGeneratorConfig | None = None):
        self.config = config or SASRecGeneratorConfig()
        self.model: SASRec | None = None
        self.history: list[dict[str, Any]] = []

    # -- training ------------------------------------------------------------------------
    def fit(self, sids: SIDTable, ctx: Any) -> None:
        """Train a fresh SASRec on ``ctx.split.train`` with the shared loop (checkpoints and
        resume in ``ctx.workdir``). Early stopping follows ``ctx.validate(self)[monitor]``
        when the context has a ``validate``, else the model's own full-catalog ``monitor``
        on ``ctx.split.valid``."""
        if ctx is None or ctx.split is None:
            raise SidkitError(f"generator {NAME} needs ctx.split (it trains on ctx.split.train)")
        n_items = int(ctx.split.n_items)
        if sids is not None and sids.n_items != n_items:
            raise SidkitError(f"generator {NAME}: the SID table has {sids.n_items} items but the split {n_items}")
        self.model = build_model(self.config, n_items, seed=int(ctx.seed))
        monitor = None
        if ctx.validate is not None:
            # every metric of each validation lands in the epoch's history as valid/<name>
            monitor = Monitor(lambda: ctx.validate(self), self.config.monitor, f"generator {NAME}")
        result = train_sasrec(
            self.model, self.config, ctx.split.train, ctx, validate=monitor,
            on_epoch_end=monitor.on_epoch_end if monitor is not None else None, who=f"generator {NAME}",
        )
        self.history = list(result.history)
        return None

    # -- scoring -------------------------------------------------------------------------
    def _require_model(self) -> SASRec:
        if self.model is None:
            raise SidkitError(f"generator {NAME}: call fit() or load() first")
        return self.model

    @property
    def n_items(self) -> int:
        return self._require_model().n_items

    @property
    def device(self) -> torch.device:
        return next(self._require_model().parameters()).device

    def to(self, device: str | torch.device) -> SASRecGenerator:
        """Move the model (``"auto"``, ``"cpu"``, ``"cuda:1"``, ...)."""
        self._require_model().to(resolve_device(device))
        return self

    def score_items(self, histories: Ragged, sids: SIDTable | None = None) -> torch.Tensor:
        """``[len(histories), n_items]`` float32 next-item scores (higher is better) on the
        model's device. ``sids`` is optional and only checked for its number of items."""
        model = self._require_model()
        if sids is not None and sids.n_items != model.n_items:
            raise ArtifactError(
                f"generator {NAME} was trained on {model.n_items} items, got a SID table with {sids.n_items}"
            )
        return score_histories(model, histories)

    # -- state ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """``model.safetensors`` (weights) + ``meta.json`` (dimensions, training history)."""
        save_model(
            Path(path),
            self._require_model(),
            weights=WEIGHTS,
            meta=META,
            extra={"generator": NAME, "history": self.history},
        )

    def load(self, path: Path) -> None:
        """Restore from what :meth:`save` wrote (no other input needed)."""
        path = Path(path)
        doc = read_json(path / META)
        if doc.get("generator") != NAME:
            raise ArtifactError(f"{path / META}: written by generator {doc.get('generator')!r}, not {NAME!r}")
        self.model, doc = load_model(path, weights=WEIGHTS, meta=META)
        self.history = list(doc.get("history", []))
