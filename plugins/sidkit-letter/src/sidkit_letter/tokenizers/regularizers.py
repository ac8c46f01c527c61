"""LETTER's two regularisers: the collaborative contrastive loss and the code-diversity loss
(with the balanced grouping of code vectors it draws its positives from)."""

from __future__ import annotations

import math

import attrs
import numpy as np
import torch
import torch.nn.functional as F
from sidkit_grid.api import kmeans_plus_plus

__all__ = [
    "contrastive_loss",
    "balanced_groups",
    "CodeGroups",
    "code_groups",
    "sample_positives",
    "diversity_loss",
]

GROUP_KMEANS_ITERS = 10


# -- collaborative ---------------------------------------------------------------------------
def contrastive_loss(
    z_q: torch.Tensor, h: torch.Tensor, temperature: float = 1.0, similarity: str = "dot"
) -> torch.Tensor:
    """In-batch contrastive cross-entropy: row ``i`` of ``sim(ẑ, h) / temperature`` must
    pick column ``i`` (the item's own collaborative vector; the other items of the batch
    are the negatives). ``similarity``: ``"dot"`` (raw) or ``"cos"`` (both sides L2-normalised)."""
    if similarity == "cos":
        z_q, h = F.normalize(z_q, dim=-1), F.normalize(h, dim=-1)
    logits = z_q @ h.T / temperature
    return F.cross_entropy(logits, torch.arange(len(z_q), device=z_q.device))


# -- grouping of code vectors ------------------------------------------------------------------
def _capacitated_assign(dist: np.ndarray, capacity: int) -> np.ndarray:
    """Each row (point) to a column (group), no column above ``capacity``: in rounds, every
    unassigned point proposes to its closest group with room left and each group keeps its
    closest proposers up to its room (vectorised greedy; at most ``groups + 1`` rounds)."""
    n, k = dist.shape
    labels = np.full(n, -1, dtype=np.int64)
    room = np.full(k, capacity, dtype=np.int64)
    for _ in range(k + 1):
        free = np.flatnonzero(labels < 0)
        if len(free) == 0:
            break
        d = dist[free].copy()
        d[:, room <= 0] = np.inf
        choice = d.argmin(1)
        order = np.lexsort((d[np.arange(len(free)), choice], choice))  # by group, then distance
        chosen = choice[order]
        first = np.searchsorted(chosen, chosen, side="left")
        rank = np.arange(len(order)) - first
        accept = rank < room[chosen]
        labels[free[order[accept]]] = chosen[accept]
        room -= np.bincount(chosen[accept], minlength=k)
    return labels


@torch.no_grad()
def balanced_groups(
    points: torch.Tensor, groups: int, gen: torch.Generator, iters: int = GROUP_KMEANS_ITERS
) -> np.ndarray:
    """Size-constrained k-means of ``points [K, D]`` into ``groups`` groups of at most
    ``ceil(K / groups)`` points: k-means++ centres, then Lloyd iterations whose assignment
    step is :func:`_capacitated_assign`. Returns the ``[K]`` group labels."""
    x = points.detach().double().cpu()
    k = x.shape[0]
    groups = max(1, min(groups, k))
    capacity = math.ceil(k / groups)
    centres = kmeans_plus_plus(x, groups, gen)
    labels = np.zeros(k, dtype=np.int64)
    for _ in range(iters):
        dist = torch.cdist(x, centres).pow(2).numpy()
        new = _capacitated_assign(dist, capacity)
        if np.array_equal(new, labels):
            break
        labels = new
        lab = torch.from_numpy(labels)
        sums = torch.zeros_like(centres).index_add_(0, lab, x)
        counts = torch.bincount(lab, minlength=groups).to(x.dtype)
        hit = counts > 0
        centres[hit] = sums[hit] / counts[hit, None]
    return labels


@attrs.frozen(eq=False)
class CodeGroups:
    """The groups of one level's codes: ``order`` lists the codes group by group, group
    ``g`` is ``order[start[g] : start[g] + size[g]]``; ``label[k]`` is code ``k``'s group and
    ``rank[k]`` its position inside it."""

    label: torch.Tensor  # [K]
    rank: torch.Tensor  # [K]
    order: torch.Tensor  # [K]
    start: torch.Tensor  # [G]
    size: torch.Tensor  # [G]


def code_groups(labels: np.ndarray, device: torch.device | str = "cpu") -> CodeGroups:
    """:class:`CodeGroups` of ``[K]`` group labels."""
    labels = np.asarray(labels, dtype=np.int64)
    k = len(labels)
    n_groups = int(labels.max()) + 1 if k else 0
    order = np.argsort(labels, kind="stable")
    size = np.bincount(labels, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k) - start[labels[order]]
    as_t = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return CodeGroups(as_t(labels), as_t(rank), as_t(order), as_t(start), as_t(size))


def sample_positives(codes: torch.Tensor, groups: CodeGroups, gen: torch.Generator) -> torch.Tensor:
    """For every selected code ``k``, a code drawn uniformly from its group minus ``k``
    itself. A code alone in its group draws from all other codes instead."""
    device = codes.device
    k_total = groups.label.shape[0]
    u = torch.rand(codes.shape, generator=gen, dtype=torch.float64).to(device)
    g = groups.label[codes]
    others = groups.size[g] - 1
    pos = (u * others.clamp_min(1)).long().clamp_max(others.clamp_min(1) - 1)
    pos = pos + (pos >= groups.rank[codes]).long()  # skip the code itself
    in_group = groups.order[(groups.start[g] + pos).clamp_max(k_total - 1)]
    anywhere = (u * (k_total - 1)).long().clamp_max(k_total - 2)
    anywhere = anywhere + (anywhere >= codes).long()
    return torch.where(others > 0, in_group, anywhere)


def diversity_loss(
    selected: torch.Tensor, codebook: torch.Tensor, codes: torch.Tensor, positives: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy over the codes of the logits ``e_k · Eᵀ`` (``e_k`` the selected code
    vector, its own logit masked out) with the drawn positive as target: pulls codes of one
    group together and, through the softmax, pushes the other groups' codes away, so a
    sample's code is trained towards a spread-out, clustered codebook. Gradients reach the
    codebook only (through both ``e_k`` and ``E``)."""
    logits = selected @ codebook.T
    logits = logits.masked_fill(F.one_hot(codes, codebook.shape[0]).bool(), float("-inf"))
    return F.cross_entropy(logits, positives)
