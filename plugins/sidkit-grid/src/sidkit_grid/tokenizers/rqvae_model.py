"""The RQ-VAE network (TIGER, Rajput et al. 2023), its loss and PCA whitening.

Kept apart from the tokenizer so other plugins can reuse the module and extend the loss
(LETTER adds collaborative and diversity terms to :func:`rqvae_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from .common import nearest

__all__ = ["mlp", "RQVAE", "RQVAEOutput", "rqvae_loss", "fit_whitening"]


def mlp(dims: Sequence[int]) -> nn.Sequential:
    """Linear layers ``dims[0] → … → dims[-1]`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@attrs.frozen(eq=False)
class RQVAEOutput:
    """One forward pass. ``residuals[:, l]`` is ``r_l = z − Σ_{j<l} sg(e_j)`` and
    ``selected[:, l]`` the code ``e_l`` chosen for it; ``z_q`` is the straight-through
    quantised latent the decoder saw and ``x_hat`` the reconstruction."""

    z: torch.Tensor  # [B, D]
    residuals: torch.Tensor  # [B, L, D]
    selected: torch.Tensor  # [B, L, D]
    codes: torch.Tensor  # [B, L]
    z_q: torch.Tensor  # [B, D]
    x_hat: torch.Tensor  # [B, in_dim]


class RQVAE(nn.Module):
    """MLP encoder → ``levels`` residual codebooks of ``codebook_size`` codes → MLP decoder
    (the decoder mirrors ``hidden_dims``)."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], latent_dim: int, levels: int, codebook_size: int):
        super().__init__()
        self.encoder = mlp([in_dim, *hidden_dims, latent_dim])
        self.decoder = mlp([latent_dim, *reversed(tuple(hidden_dims)), in_dim])
        self.codebooks = nn.Parameter(torch.randn(levels, codebook_size, latent_dim) / latent_dim**0.5)

    @property
    def levels(self) -> int:
        return self.codebooks.shape[0]

    def select_codes(self, level: int, r: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
        """Code index of every residual at ``level``: the nearest code (subclasses may
        balance the assignment instead, e.g. LETTER's Sinkhorn on the last level)."""
        return nearest(r, book)[0]

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Residual quantisation of latents: ``(codes [B, L], residuals, selected [B, L, D])``."""
        residuals, selected, codes = [], [], []
        r = z
        for level, book in enumerate(self.codebooks):
            idx = self.select_codes(level, r.detach(), book.detach())
            e = book.index_select(0, idx)  # not book[idx]: its backward is not deterministic on CPU threads
            residuals.append(r)
            selected.append(e)
            codes.append(idx)
            r = r - e.detach()
        return torch.stack(codes, 1), torch.stack(residuals, 1), torch.stack(selected, 1)

    def forward(self, x: torch.Tensor) -> RQVAEOutput:
        z = self.encoder(x)
        codes, residuals, selected = self.quantize(z)
        z_q = z + (selected.sum(1) - z).detach()  # straight-through estimator
        return RQVAEOutput(z, residuals, selected, codes, z_q, self.decoder(z_q))

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(self.encoder(x))[0]


def rqvae_loss(x: torch.Tensor, out: RQVAEOutput, beta: float = 0.25) -> dict[str, torch.Tensor]:
    """``total = recon + codebook + beta · commitment`` and its parts:
    ``recon`` = MSE(x̂, x); ``codebook`` = Σ_l MSE(e_l, sg(r_l)) trains the codes;
    ``commitment`` = Σ_l MSE(r_l, sg(e_l)) pulls the encoder towards them (means over the
    batch and latent dimensions, summed over levels)."""
    recon = F.mse_loss(out.x_hat, x)
    codebook = (out.residuals.detach() - out.selected).pow(2).mean(dim=(0, 2)).sum()
    commitment = (out.residuals - out.selected.detach()).pow(2).mean(dim=(0, 2)).sum()
    total = recon + codebook + beta * commitment
    return {"total": total, "recon": recon, "codebook": codebook, "commitment": commitment}


@torch.no_grad()
def fit_whitening(x: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA whitening ``(x − mean) @ matrix`` with unit variance along every principal axis;
    eigenvalues are floored at ``eps ×`` the largest so near-null directions are not blown up."""
    x64 = x.double()
    mean = x64.mean(0)
    xc = x64 - mean
    cov = xc.T @ xc / max(1, x.shape[0] - 1)
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(float(vals.max()) * eps + 1e-12)
    return mean.float(), (vecs / vals.sqrt()).float()
