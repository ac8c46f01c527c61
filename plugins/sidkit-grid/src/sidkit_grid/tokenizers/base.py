"""The part of every GRID tokenizer that is not about training: input checks, chunked
assignment, de-duplication and the state directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sidkit.errors import SidkitError
from sidkit.types import ItemEmbeddings, SIDTable

from .common import collision_order, deduplicate, load_state, save_state

__all__ = ["GridTokenizer"]


class GridTokenizer:
    """Base class: subclasses implement :meth:`fit`, :meth:`raw_codes`, :meth:`state`
    and :meth:`set_state`; :meth:`assign`, :meth:`save` and :meth:`load` come from here."""

    name = "grid"
    assign_rows = 65_536
    """Items quantised at once by :meth:`assign` (bounds the memory of every step)."""

    def __init__(self, config: Any):
        self.config = config
        self.dim: int | None = None
        self.device = torch.device("cpu")

    # -- what subclasses provide -------------------------------------------------------------
    def fit(self, embeddings: ItemEmbeddings, ctx: Any = None) -> None:
        raise NotImplementedError

    def raw_codes(self, x: torch.Tensor) -> torch.Tensor:
        """``[rows, L]`` codes of a chunk of input rows (on ``self.device``)."""
        raise NotImplementedError

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able meta that :meth:`set_state` restores the fitted tokenizer from."""
        raise NotImplementedError

    def state_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int | None, ...]]:
        """Tensor shapes a saved state must have, given its meta."""
        raise NotImplementedError

    def set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- shared behaviour ------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.dim is not None

    @property
    def collision_order(self) -> str:
        """How the items sharing one SID are ordered when decoded: ``"random"`` (seeded)
        with ``dedup="random"``, else ``"index"``. Decoders read it from ``ctx.tokenizer``."""
        return collision_order(self.config.dedup)

    def input_matrix(self, embeddings: ItemEmbeddings) -> np.ndarray:
        """The ``[n_items, dim]`` matrix :meth:`assign` quantises (the embeddings' ``values``,
        or the view a subclass selects), checked against the fitted width. An RQ-VAE
        tokenizer's network reads it after its ``transform``."""
        return self._check_input(embeddings)

    def _check_input(self, embeddings: ItemEmbeddings) -> np.ndarray:
        if not self.fitted:
            raise SidkitError(f"tokenizer {self.name}: call fit() or load() before assign()")
        if embeddings.dim != self.dim:
            raise SidkitError(f"tokenizer {self.name} was fitted on {self.dim}-d embeddings, got {embeddings.dim}-d")
        return embeddings.values

    @torch.no_grad()
    def codes(self, embeddings: ItemEmbeddings) -> np.ndarray:
        """``[n_items, L]`` codes before de-duplication, computed ``assign_rows`` items at a time."""
        values = self.input_matrix(embeddings)
        out = np.empty((len(values), self.config.levels), dtype=np.int64)
        for s in range(0, len(values), self.assign_rows):
            chunk = torch.from_numpy(values[s : s + self.assign_rows]).to(self.device)
            out[s : s + len(chunk)] = self.raw_codes(chunk).cpu().numpy()
        return out

    def assign(self, embeddings: ItemEmbeddings) -> SIDTable:
        cfg = self.config
        return deduplicate(self.codes(embeddings), cfg.codebook_size, cfg.dedup, cfg.dedup_size)

    def _structure(self) -> dict[str, Any]:
        return {"levels": self.config.levels, "codebook_size": self.config.codebook_size}

    def save(self, path: Path) -> None:
        if not self.fitted:
            raise SidkitError(f"tokenizer {self.name}: nothing to save before fit()")
        arrays, meta = self.state()
        save_state(path, self.name, arrays, {**self._structure(), "dim": self.dim, **meta})

    def load(self, path: Path) -> None:
        arrays, meta = load_state(path, self.name, self.state_shapes, check=self._structure())
        self.device = torch.device("cpu")
        self.set_state(arrays, meta)
        self.dim = int(meta["dim"])
