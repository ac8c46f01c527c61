"""Mini-batch k-means (Sculley 2010) with k-means++ init and empty-cluster re-seeding."""

from __future__ import annotations

import torch

from .common import kmeans_plus_plus, nearest, reseed_codes

__all__ = ["sample_batch", "minibatch_kmeans", "fill_empty_clusters"]


def sample_batch(n: int, batch_size: int, gen: torch.Generator) -> torch.Tensor | None:
    """Random row indices (with replacement), or ``None`` when one batch holds every row."""
    if batch_size >= n:
        return None
    return torch.randint(n, (batch_size,), generator=gen)


def _rows(x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    return x if rows is None else x[rows.to(x.device)]


@torch.no_grad()
def minibatch_kmeans(
    x: torch.Tensor,
    k: int,
    *,
    steps: int,
    batch_size: int,
    gen: torch.Generator,
    reseed_every: int = 100,
    bar=None,
) -> torch.Tensor:
    """``k`` centroids of the rows of ``x`` (``[k, d]``, same device and dtype).

    Each step assigns a random batch to its nearest centroids and moves every centroid
    towards the mean of its batch points with rate ``batch count / total count`` (the
    per-centre learning rate of mini-batch k-means). Every ``reseed_every`` steps the
    centroids that got no point since the last check are moved onto the batch points
    farthest from their centroid; after the last step :func:`fill_empty_clusters` makes
    sure no centroid is empty on the full data while enough distinct points exist.
    """
    n = x.shape[0]
    centroids = kmeans_plus_plus(x, k, gen)
    counts = torch.zeros(k, dtype=x.dtype, device=x.device)
    window = torch.zeros(k, dtype=torch.long, device=x.device)
    for step in range(1, steps + 1):
        xb = _rows(x, sample_batch(n, batch_size, gen))
        idx, dist = nearest(xb, centroids)
        got = torch.bincount(idx, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, idx, xb)
        hit = got > 0
        counts += got.to(x.dtype)
        rate = got[hit].to(x.dtype) / counts[hit]
        means = sums[hit] / got[hit, None].to(x.dtype)
        centroids[hit] += rate[:, None] * (means - centroids[hit])
        window += got
        if reseed_every and step % reseed_every == 0:
            moved = reseed_codes(centroids, xb, idx, dist, window == 0)
            counts[moved.to(x.device)] = 1.0
            window.zero_()
        if bar is not None:
            bar.update(1)
    return fill_empty_clusters(x, centroids)


@torch.no_grad()
def fill_empty_clusters(x: torch.Tensor, centroids: torch.Tensor, max_rounds: int = 10) -> torch.Tensor:
    """Re-seed centroids that own no row of ``x`` at the rows farthest from their centroid,
    then move each re-seeded centroid to the mean of the rows it owns; repeat until no
    centroid is empty (or no distinct point is left to take). In place; returns ``centroids``."""
    k = centroids.shape[0]
    for _ in range(max_rounds):
        idx, dist = nearest(x, centroids)
        empty = torch.bincount(idx, minlength=k) == 0
        if not bool(empty.any()):
            break
        moved = reseed_codes(centroids, x, idx, dist, empty).to(x.device)
        if len(moved) == 0:
            break
        idx, _ = nearest(x, centroids)
        got = torch.bincount(idx, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, idx, x)
        keep = moved[got[moved] > 0]
        centroids[keep] = sums[keep] / got[keep, None].to(x.dtype)
    return centroids
