"""Tokenizer ``toy-rkmeans``: residual k-means (k-means++ init, Lloyd) plus a de-dup level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sidkit.artifacts import load_arrays, read_json, save_arrays, write_json
from sidkit.errors import ArtifactError, SidkitError
from sidkit.types import ItemEmbeddings, SIDTable

from .configs import ToyRKMeansConfig


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]


def kmeans(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` centroids of ``x``: k-means++ seeding, then Lloyd; an empty cluster takes the worst-fit point."""
    centers = [x[rng.integers(len(x))]]
    d2 = _sq_dist(x, centers[0][None])[:, 0]
    for _ in range(1, k):
        p = np.maximum(d2, 0)
        i = rng.choice(len(x), p=p / p.sum()) if p.sum() > 0 else rng.integers(len(x))
        centers.append(x[i])
        d2 = np.minimum(d2, _sq_dist(x, x[i][None])[:, 0])
    c = np.array(centers)
    for _ in range(iters):
        dist = _sq_dist(x, c)
        assign = dist.argmin(1)
        sums = np.zeros_like(c)
        np.add.at(sums, assign, x)
        counts = np.bincount(assign, minlength=k)
        new = sums / np.maximum(counts, 1)[:, None]
        empty = np.flatnonzero(counts == 0)
        new[empty] = x[np.argsort(-dist.min(1))[: len(empty)]]
        if np.allclose(new, c):
            break
        c = new
    return c


def dedup_codes(prefix: np.ndarray) -> np.ndarray:
    """Index of each item among the items sharing its prefix (in item order)."""
    _, group = np.unique(prefix, axis=0, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], group[order])
    out = np.empty(len(group), dtype=np.int64)
    out[order] = np.arange(len(group)) - starts
    return out


class ToyRKMeans:
    """``levels`` residual k-means codebooks; with ``dedup`` an extra level separates collisions
    (its codebook size is the largest number of items sharing a prefix)."""

    def __init__(self, config: ToyRKMeansConfig):
        self.config = config
        self.centroids: np.ndarray | None = None  # [levels, codebook_size, d]
        self.dedup_size = 1

    def _prefix(self, x: np.ndarray) -> np.ndarray:
        residual = x.astype(np.float64).copy()
        codes = []
        for c in self.centroids:
            code = _sq_dist(residual, c).argmin(1)
            residual -= c[code]
            codes.append(code)
        return np.stack(codes, axis=1)

    def fit(self, embeddings: ItemEmbeddings, ctx=None) -> None:
        rng = np.random.default_rng(self.config.seed + (ctx.seed if ctx is not None else 0))
        residual = embeddings.values.astype(np.float64).copy()
        centroids = []
        for _ in range(self.config.levels):
            c = kmeans(residual, self.config.codebook_size, self.config.iters, rng)
            residual -= c[_sq_dist(residual, c).argmin(1)]
            centroids.append(c)
        self.centroids = np.stack(centroids)
        self.dedup_size = int(dedup_codes(self._prefix(embeddings.values)).max()) + 1

    def assign(self, embeddings: ItemEmbeddings) -> SIDTable:
        if self.centroids is None:
            raise SidkitError("tokenizer toy-rkmeans: call fit() or load() before assign()")
        codes = self._prefix(embeddings.values)
        sizes = [self.config.codebook_size] * self.config.levels
        if self.config.dedup:
            dedup = dedup_codes(codes)
            codes = np.column_stack([codes, dedup])
            sizes.append(max(self.dedup_size, int(dedup.max(initial=0)) + 1))
        return SIDTable(codes, sizes)

    def save(self, path: Path) -> None:
        if self.centroids is None:
            raise SidkitError("tokenizer toy-rkmeans: nothing to save before fit()")
        save_arrays(Path(path) / "centroids.safetensors", {"centroids": self.centroids})
        levels, k, dim = self.centroids.shape
        meta = {"levels": levels, "codebook_size": k, "dim": dim, "dedup_size": self.dedup_size}
        write_json(Path(path) / "meta.json", meta)

    def load(self, path: Path) -> None:
        meta = read_json(Path(path) / "meta.json")
        if (meta["levels"], meta["codebook_size"]) != (self.config.levels, self.config.codebook_size):
            saved = f"levels={meta['levels']}, codebook_size={meta['codebook_size']}"
            raise ArtifactError(f"{path}: state has {saved}; the config says otherwise")
        shape = (meta["levels"], meta["codebook_size"], meta["dim"])
        self.centroids = load_arrays(Path(path) / "centroids.safetensors", {"centroids": shape})["centroids"]
        self.dedup_size = int(meta["dedup_size"])
