"""Encoder ``sasrec``: collaborative item embeddings from a SASRec trained on the training split."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from sidkit.errors import SidkitError
from sidkit.types import ItemEmbeddings

from ..configs.encoders import SASRecConfig
from ..models.sasrec import SASRec, build_model, load_model, save_model, train_sasrec

__all__ = ["SASRecEncoder", "WEIGHTS", "META"]

WEIGHTS, META = "sasrec.safetensors", "sasrec.json"


class SASRecEncoder:
    """Trains SASRec on ``ctx.split.train`` (early stopping on its own full-catalog
    ``monitor`` over ``ctx.split.valid``) and returns the item embedding table, one row per
    catalog item in item-index order. With ``ctx.workdir`` the loop checkpoints there (a
    re-run resumes) and the trained weights are saved as ``sasrec.safetensors`` +
    ``sasrec.json``. After :meth:`encode`, ``model`` is the trained network and ``history``
    the loop's per-epoch records; :meth:`save`/:meth:`load` keep both (a run's encoder stage
    stores them, so a continual refresh can warm-start from a reused stage).

    Warm start (continual refreshes): when ``ctx.encoder`` is a fitted ``SASRecEncoder`` of
    the same dimensions and catalog, training starts from a copy of its weights instead of
    a fresh initialisation (fresh optimizer, same training settings)."""

    def __init__(self, config: SASRecConfig | None = None):
        self.config = config or SASRecConfig()
        self.model: SASRec | None = None
        self.history: list[dict[str, Any]] = []

    def encode(self, ctx) -> ItemEmbeddings:
        if ctx is None or ctx.split is None:
            raise SidkitError("encoder sasrec needs ctx.split (it trains on the training sequences ctx.split.train)")
        n_items = int(ctx.split.n_items)
        dataset = ctx.dataset
        if dataset is not None and dataset.n_items != n_items:
            raise SidkitError(f"encoder sasrec: the split has {n_items} items but the catalog {dataset.n_items}")
        model = self._initial_model(ctx, n_items)
        result = train_sasrec(model, self.config, ctx.split.train, ctx, who="encoder sasrec")
        self.model, self.history = model, list(result.history)
        if ctx.workdir is not None:
            save_model(
                ctx.workdir,
                model,
                weights=WEIGHTS,
                meta=META,
                extra={"encoder": "sasrec", "best_epoch": result.best_epoch, "history": self.history},
            )
        values = model.item_table.detach().float().cpu().numpy()
        if self.config.normalize:
            values = values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)
        return ItemEmbeddings(values)

    def save(self, path: Path) -> None:
        """The trained network and its training history (``sasrec.safetensors`` + ``sasrec.json``)."""
        if self.model is None:
            raise SidkitError("encoder sasrec: nothing to save before encode() has trained a model")
        save_model(path, self.model, weights=WEIGHTS, meta=META, extra={"encoder": "sasrec", "history": self.history})

    def load(self, path: Path) -> None:
        """What :meth:`save` wrote; a later ``encode`` with this encoder as ``ctx.encoder`` warm-starts from it."""
        self.model, doc = load_model(path, weights=WEIGHTS, meta=META)
        self.history = list(doc.get("history", []))

    def _initial_model(self, ctx, n_items: int) -> SASRec:
        """A copy of ``ctx.encoder``'s trained network, else a fresh one for ``ctx.seed``."""
        warm = ctx.encoder
        fresh = build_model(self.config, n_items, seed=int(ctx.seed))
        if warm is None:
            return fresh
        if not isinstance(warm, SASRecEncoder) or warm.model is None:
            raise SidkitError(
                f"encoder sasrec: ctx.encoder must be a fitted sasrec encoder to warm-start from, got {type(warm).__name__}"
            )
        if warm.model.hparams != fresh.hparams:
            diff = {k: (warm.model.hparams[k], v) for k, v in fresh.hparams.items() if warm.model.hparams.get(k) != v}
            raise SidkitError(
                "encoder sasrec: cannot warm-start from an encoder of other dimensions "
                + ", ".join(f"{k} {a!r} (previous) vs {b!r} (now)" for k, (a, b) in diff.items())
            )
        return copy.deepcopy(warm.model)
