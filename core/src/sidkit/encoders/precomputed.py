"""Encoder ``precomputed``: item embeddings read from a file made elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..context import Context
from ..errors import DataError
from ..types import ItemEmbeddings
from .configs import PrecomputedConfig


class PrecomputedEncoder:
    """Loads ``[n_items, d]`` embeddings from safetensors or ``.npy`` (never pickle)."""

    def __init__(self, config: PrecomputedConfig):
        self.config = config

    def _read(self) -> np.ndarray:
        path = Path(self.config.path)
        if not path.exists():
            raise DataError("embedding file not found", path=path)
        if path.suffix == ".npy":
            try:
                return np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise DataError(f"not a plain .npy array ({exc})", path=path) from None
        from ..artifacts import load_arrays

        arrays = load_arrays(path)
        if self.config.key not in arrays:
            raise DataError(f"no tensor {self.config.key!r} (has: {', '.join(sorted(arrays))}); set key = ...", path=path)
        return arrays[self.config.key]

    def encode(self, ctx: Context) -> ItemEmbeddings:
        values = np.asarray(self._read(), dtype=np.float32)
        path = self.config.path
        if values.ndim != 2:
            raise DataError(f"expected a 2-D [n_items, d] matrix, got shape {values.shape}", path=path)
        catalog = ctx.dataset.catalog if ctx.dataset is not None else None
        if self.config.ids_file is not None:
            ids = json.loads(Path(self.config.ids_file).read_text(encoding="utf-8"))
            if len(ids) != len(values):
                raise DataError(f"{len(ids)} ids for {len(values)} embedding rows", path=self.config.ids_file)
            if catalog is None:
                raise DataError("ids_file needs a dataset in the context to align rows", path=self.config.ids_file)
            row = {str(item): i for i, item in enumerate(ids)}
            missing = [item for item in catalog.item_ids if item not in row]
            if missing:
                raise DataError(f"{len(missing)} catalog items have no embedding row, e.g. {missing[:3]}", path=self.config.ids_file)
            values = values[[row[item] for item in catalog.item_ids]]
        elif catalog is not None and len(values) != len(catalog):
            raise DataError(f"{len(values)} embedding rows for {len(catalog)} catalog items; give ids_file to align them", path=path)
        if self.config.normalize:
            values = values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)
        return ItemEmbeddings(values)
