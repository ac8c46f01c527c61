"""Sinkhorn-Knopp balanced assignment of points to codes (float64; matrix scaling with a
log-domain fallback).

LETTER picks the last level's code with an entropic optimal-transport plan instead of the
nearest code, so that a batch (in training) or a group of colliding items (at assignment)
spreads over the codebook: every point carries mass ``1/n``, every code receives ``1/K``.
The costs are squared distances min-max scaled to ``[-1, 1]`` per matrix (the authors'
scaling), so ``epsilon`` has the same meaning whatever the scale of the latents.
"""

from __future__ import annotations

import math

import torch

__all__ = ["minmax_scale", "squared_distances", "sinkhorn_plan", "balanced_codes"]


def minmax_scale(cost: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``cost`` mapped affinely to ``[-1, 1]``, separately for every matrix of the last two
    dimensions (a constant matrix becomes zeros)."""
    lo = cost.amin(dim=(-2, -1), keepdim=True)
    hi = cost.amax(dim=(-2, -1), keepdim=True)
    mid = (hi + lo) / 2
    return (cost - mid) / ((hi - lo) / 2 + eps)


def squared_distances(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """``‖x_i − c_j‖²`` for ``x [..., n, D]`` and ``codebook [K, D]`` → ``[..., n, K]``."""
    d2 = (x * x).sum(-1, keepdim=True) - 2.0 * (x @ codebook.T) + (codebook * codebook).sum(-1)
    return d2.clamp_min(0.0)


_SAFE_SPREAD = 700.0
"""Largest ``max − min`` of a kernel matrix's log that the fast scaling iterations are used
for (``exp(-708)`` is the smallest normal float64)."""


def _log_kernel(cost: torch.Tensor, epsilon: float, scale: bool) -> torch.Tensor:
    c = cost.detach().double()
    return -(minmax_scale(c) if scale else c) / epsilon


def _scaling(log_kernel: torch.Tensor, iters: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(kernel, u, v)`` with ``plan ∝ u · kernel · v``: two matrix-vector products per iteration."""
    n, k = log_kernel.shape[-2], log_kernel.shape[-1]
    kernel = torch.exp(log_kernel - log_kernel.amax(dim=(-2, -1), keepdim=True))  # a constant factor: absorbed by v
    u = torch.ones(log_kernel.shape[:-1] + (1,), dtype=kernel.dtype, device=kernel.device)
    v = torch.ones(log_kernel.shape[:-2] + (1, k), dtype=kernel.dtype, device=kernel.device)
    kernel_t = kernel.transpose(-2, -1)
    for _ in range(iters):
        v = (1.0 / k) / (kernel_t @ u).transpose(-2, -1)  # every column gets mass 1/k
        u = (1.0 / n) / (kernel @ v.transpose(-2, -1))  # every row gets mass 1/n
    return kernel, u, v


def _log_potentials(log_kernel: torch.Tensor, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f, g)`` with ``log plan = log_kernel + f + g`` (the same iterations, in logs)."""
    n, k = log_kernel.shape[-2], log_kernel.shape[-1]
    log_a, log_b = -math.log(n), -math.log(k)
    f = torch.zeros(log_kernel.shape[:-1] + (1,), dtype=log_kernel.dtype, device=log_kernel.device)
    g = torch.zeros(log_kernel.shape[:-2] + (1, k), dtype=log_kernel.dtype, device=log_kernel.device)
    for _ in range(iters):
        g = log_b - torch.logsumexp(log_kernel + f, dim=-2, keepdim=True)
        f = log_a - torch.logsumexp(log_kernel + g, dim=-1, keepdim=True)
    return f, g


def _fast_ok(log_kernel: torch.Tensor) -> bool:
    if log_kernel.numel() == 0:
        return False
    spread = log_kernel.amax(dim=(-2, -1)) - log_kernel.amin(dim=(-2, -1))
    return float(spread.max()) <= _SAFE_SPREAD


@torch.no_grad()
def sinkhorn_plan(cost: torch.Tensor, epsilon: float, iters: int, *, scale: bool = True) -> torch.Tensor:
    """Entropic transport plan for ``cost [..., n, K]`` with uniform marginals.

    Returns ``P [..., n, K]`` (float64) scaled so that every row sums to 1 (a distribution
    over codes per point) and every column to about ``n / K`` (exactly in the limit of many
    iterations). Each iteration updates the column scaling, then the row scaling, starting
    from the kernel itself, as the authors' multiplicative version does; the row-wise argmax
    of ``P`` is theirs (a final row normalisation does not move it).

    Numerics: the kernel ``exp(-c / epsilon)`` of each matrix is divided by its largest
    entry; with costs in ``[-1, 1]`` its smallest entry is then ``exp(-2 / epsilon)``,
    ``exp(-667)`` for ``epsilon = 0.003``, still a normal float64, and the iterations are
    two matrix-vector products. When the spread exceeds what float64 holds, or the result is
    not finite, the same iterations run on log-potentials with ``logsumexp`` (slower, never
    overflows).
    """
    log_kernel = _log_kernel(cost, epsilon, scale)
    n = log_kernel.shape[-2]
    if _fast_ok(log_kernel):
        kernel, u, v = _scaling(log_kernel, iters)
        plan = u * kernel * v * n
        if bool(torch.isfinite(plan).all()):
            return plan
    f, g = _log_potentials(log_kernel, iters)
    return torch.exp(log_kernel + f + g) * n


@torch.no_grad()
def balanced_codes(x: torch.Tensor, codebook: torch.Tensor, epsilon: float, iters: int) -> torch.Tensor:
    """Code of every point of ``x [..., n, D]``: the row-wise argmax of the Sinkhorn plan on
    squared distances to ``codebook [K, D]`` (each leading index is its own problem). The
    argmax is taken without forming the plan (``u`` does not change a row's argmax)."""
    log_kernel = _log_kernel(squared_distances(x.detach(), codebook.detach()), epsilon, True)
    if _fast_ok(log_kernel):
        kernel, u, v = _scaling(log_kernel, iters)
        if bool(torch.isfinite(u).all()) and bool(torch.isfinite(v).all()) and bool((v > 0).all()):
            return (kernel * v).argmax(-1)
    _, g = _log_potentials(log_kernel, iters)
    return (log_kernel + g).argmax(-1)
