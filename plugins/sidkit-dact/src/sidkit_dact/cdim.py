"""CDIM, the collaborative drift identification module of DACT: a drift confidence
``c ∈ (0, 1)`` per item from its old latent, its live latent and its collaborative vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CDIM", "ste_topk_mask"]


class CDIM(nn.Module):
    """``q = normalise([ô ⊙ ĥ ; n̂ ⊙ ĥ ; ô − n̂])`` (old latent, live latent, collaborative
    vector, each L2-normalised); attention ``a = softmax_n(cos(q, K_n) / tau)`` over
    ``slots`` keys (orthogonal init); ``c = σ(MLP(Σ_n a_n V_n))`` with values ``V``
    (``slots × hidden``, Xavier init) and MLP = LayerNorm → Linear(hidden, hidden/2) → GELU
    → Linear(hidden/2, 1)."""

    def __init__(self, latent_dim: int, slots: int = 32, hidden: int = 64, tau: float = 0.1):
        super().__init__()
        self.tau = float(tau)
        self.keys = nn.Parameter(torch.empty(slots, 3 * latent_dim))
        self.values = nn.Parameter(torch.empty(slots, hidden))
        nn.init.orthogonal_(self.keys)
        nn.init.xavier_normal_(self.values)
        self.mlp = nn.Sequential(
            nn.LayerNorm(hidden), nn.Linear(hidden, hidden // 2), nn.GELU(), nn.Linear(hidden // 2, 1)
        )

    def forward(self, z_old: torch.Tensor, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``[B]`` confidences; the caller passes ``z`` detached (CDIM does not train the encoder)."""
        o, n, g = (F.normalize(t, dim=-1) for t in (z_old, z, h))
        query = F.normalize(torch.cat([o * g, n * g, o - n], dim=-1), dim=-1)
        attention = torch.softmax(query @ F.normalize(self.keys, dim=-1).T / self.tau, dim=-1)
        return torch.sigmoid(self.mlp(attention @ self.values)).squeeze(-1)


def ste_topk_mask(c: torch.Tensor, rho: float) -> torch.Tensor:
    """Top-ρ mask with a straight-through estimator: the ``max(1, ⌊ρB⌋)`` rows with the
    largest ``c`` are 1, the others 0, in the forward pass; the gradient reaches ``c`` as
    if the mask were ``c`` (``m̃ = m + c − sg(c)``). Ties go to the lower row."""
    k = max(1, int(rho * len(c)))
    order = torch.sort(c.detach(), descending=True, stable=True).indices
    hard = torch.zeros_like(c)
    hard[order[:k]] = 1.0
    return hard + (c - c.detach())  # c − sg(c) is exactly 0: the forward value is exactly the hard mask
