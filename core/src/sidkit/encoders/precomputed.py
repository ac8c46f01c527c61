"""Encoder ``precomputed``: item embeddings read from a file made elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..context import Context
from ..data.loaders.reading import existing_file, read_json
from ..data.model import Catalog
from ..errors import DataError
from ..types import ItemEmbeddings
from .checks import check_embeddings
from .configs import PrecomputedConfig


def read_ids(path: str | Path) -> list[str]:
    """The item ids of an ``ids_file`` (a JSON list of strings or integers, no repeats),
    or a DataError naming the file and the problem."""
    path = existing_file(path, "ids_file")
    ids = read_json(path)
    if not isinstance(ids, list):
        kind = type(ids).__name__
        raise DataError(f"expected a JSON list of item ids (one per embedding row), got {kind}", path=path)
    seen: dict[str, int] = {}
    for i, item in enumerate(ids):
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise DataError(f"element {i} is {item!r}; expected an item id (a string or an integer)", path=path)
        if str(item) in seen:
            raise DataError(f"item id {str(item)!r} is listed twice (elements {seen[str(item)]} and {i})", path=path)
        seen[str(item)] = i
    return list(seen)


def _align(values: np.ndarray, ids: Sequence[str], catalog: Catalog | None, path: Path) -> np.ndarray:
    """Rows reordered from ``ids_file`` order (``ids``, read from ``path``) to the catalog's item order."""
    if len(ids) != len(values):
        raise DataError(f"{len(ids)} ids for {len(values)} embedding rows", path=path)
    if catalog is None:
        raise DataError("ids_file needs a dataset in the context to align rows", path=path)
    row = {item: i for i, item in enumerate(ids)}
    missing = [item for item in catalog.item_ids if item not in row]
    if missing:
        raise DataError(f"{len(missing)} catalog items have no embedding row, e.g. {missing[:3]}", path=path)
    return values[[row[item] for item in catalog.item_ids]]


class PrecomputedEncoder:
    """Loads ``[n_items, d]`` embeddings from safetensors or ``.npy`` (never pickle)."""

    def __init__(self, config: PrecomputedConfig):
        self.config = config

    def _read(self) -> np.ndarray:
        path = existing_file(self.config.path, "embedding file")
        if path.suffix == ".npy":
            try:
                return np.load(path, allow_pickle=False)
            except (ValueError, EOFError, OSError) as exc:
                raise DataError(f"not a plain .npy array ({exc})", path=path) from None
        from ..artifacts import load_arrays

        arrays = load_arrays(path)
        if self.config.key not in arrays:
            raise DataError(f"no tensor {self.config.key!r} (has: {', '.join(sorted(arrays))}); set key = ...", path=path)
        return arrays[self.config.key]

    def encode(self, ctx: Context) -> ItemEmbeddings:
        raw = self._read()
        path, ids_file = Path(self.config.path), self.config.ids_file
        catalog = ctx.dataset.catalog if ctx.dataset is not None else None
        ids = None if ids_file is None else read_ids(ids_file)
        row_ids = ids
        if ids is None and catalog is not None and np.shape(raw)[:1] == (len(catalog),):
            row_ids = catalog.item_ids  # without ids_file, rows follow the catalog
        values = check_embeddings(raw, path, row_ids)
        if ids_file is not None and ids is not None:
            values = _align(values, ids, catalog, Path(ids_file))
        elif catalog is not None and len(values) != len(catalog):
            raise DataError(
                f"{len(values)} embedding rows for {len(catalog)} catalog items; give ids_file to align them", path=path
            )
        if self.config.normalize:
            values = values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)
        return ItemEmbeddings(values)
