"""On-disk embedding cache keyed by a fingerprint of the model, the settings and the texts."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sidkit.artifacts import load_arrays, save_arrays
from sidkit.errors import ArtifactError

__all__ = ["cache_key", "EmbeddingCache"]

CACHE_VERSION = 1


def cache_key(settings: Mapping[str, Any], texts: Sequence[str]) -> str:
    """sha256 of the JSON ``settings`` and every text (length-prefixed, so the split between
    texts counts)."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, **settings}, sort_keys=True).encode("utf-8"))
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class EmbeddingCache:
    """``<directory>/<key>.safetensors`` holding one ``embeddings`` matrix; ``directory=None``
    disables the cache."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.safetensors"

    def get(self, key: str, n_rows: int) -> np.ndarray | None:
        path = self.path(key)
        if path is None or not path.exists():
            return None
        try:
            values = load_arrays(path, {"embeddings": (n_rows, None)})["embeddings"]
        except ArtifactError as exc:
            warnings.warn(f"ignoring unusable embedding cache file: {exc}", stacklevel=2)
            return None
        return values.astype(np.float32, copy=False)

    def put(self, key: str, values: np.ndarray, metadata: Mapping[str, str]) -> None:
        path = self.path(key)
        if path is not None:
            save_arrays(path, {"embeddings": values}, metadata)
