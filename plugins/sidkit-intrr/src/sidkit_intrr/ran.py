"""The recursive-assignment network (RAN): one codebook ``V_l`` per SID level and one MLP per
level after the first.

For a guidance vector ``x`` the recursion is ``h_1 = x`` and ``h_l = MLP_l([z_{l-1} ‖ x])``,
with level distribution ``p_l = softmax(h_l V_lᵀ)``. The context ``z_l`` is either the
codeword of a given code (teacher forcing) or redistributed from ``p_l``: the mixture
``Σ_k p_l(k) V_l[k]`` (``"soft"``) or, straight through (``"ste"``), the argmax codeword in
the forward pass and the mixture's gradient in the backward pass.

``context = "prefix"`` (an option, not the paper's) conditions level ``l`` on
``z_1 + … + z_{l−1}`` instead of ``z_{l−1}`` alone: with residual codebooks a code means
different things under different earlier codes, and a de-dup digit means nothing without
its whole prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .config import RAN_CONTEXTS

__all__ = ["RAN", "level_nll"]

INIT_STD = 0.02


def level_nll(logits: Sequence[torch.Tensor], codes: torch.Tensor) -> torch.Tensor:
    """``Σ_l −log p_l(codes[:, l])`` per row (float32)."""
    total = torch.zeros(codes.shape[0], dtype=torch.float32, device=codes.device)
    for level, lg in enumerate(logits):
        total = total + nn.functional.cross_entropy(lg.float(), codes[:, level], reduction="none")
    return total


class RAN(nn.Module):
    """Codebooks (``[K_l, d]`` each) and ``L − 1`` level MLPs ``Linear(2d → hidden) → ReLU →
    Linear(hidden → d)``. ``mlps=False`` builds the codebooks alone (an item side that only
    looks codewords up). Codewords start as ``N(0, init_std²)``. ``context``: what a level's
    MLP reads of the levels before it (see the module docstring)."""

    def __init__(
        self, codebook_sizes: Sequence[int], dim: int, hidden: int, mlps: bool = True, init_std: float = INIT_STD,
        context: str = "previous",
    ):
        super().__init__()
        if context not in RAN_CONTEXTS:
            raise ValueError(f"context must be one of {RAN_CONTEXTS}, got {context!r}")
        self.prefix = context == "prefix"
        self.codebooks = nn.ParameterList(nn.Parameter(torch.randn(int(k), dim) * init_std) for k in codebook_sizes)
        self.mlps = (
            nn.ModuleList(
                nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
                for _ in range(len(codebook_sizes) - 1)
            )
            if mlps
            else None
        )

    @property
    def n_levels(self) -> int:
        return len(self.codebooks)

    def codeword(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """``V_level[codes]`` for any shape of ``codes``."""
        book = self.codebooks[level]
        return book.index_select(0, codes.reshape(-1)).view(*codes.shape, book.shape[1])

    def guide(self, level: int, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """``h_level``: ``x`` at the first level, else ``MLP_level([context ‖ x])``."""
        if level == 0:
            return x
        return self.mlps[level - 1](torch.cat([context, x.expand_as(context)], dim=-1))

    def next_context(self, context: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        """The context after a level whose codeword (or redistributed vector) is ``z``."""
        return z if context is None or not self.prefix else context + z

    def logits(self, level: int, h: torch.Tensor) -> torch.Tensor:
        return h @ self.codebooks[level].t()

    def codeword_sum(self, codes: torch.Tensor) -> torch.Tensor:
        """``Σ_l V_l[codes[:, l]]``: the item vector without redistribution."""
        return sum(self.codeword(level, codes[:, level]) for level in range(self.n_levels))

    def teacher_forced(self, x: torch.Tensor, codes: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every level, level ``l`` conditioned on the codeword of ``codes[:, l − 1]``
        (``"prefix"``: the codewords of ``codes[:, :l]`` summed)."""
        out, context = [], None
        for level in range(self.n_levels):
            out.append(self.logits(level, self.guide(level, x, context)))
            context = self.next_context(context, self.codeword(level, codes[:, level]))
        return out

    def redistributed(self, x: torch.Tensor, mode: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(logits, vectors)`` of every level, each level conditioned on the redistributed
        vectors of the levels before it (``mode`` ``"ste"`` or ``"soft"``); ``vectors[l]`` is
        level ``l``'s own redistributed codeword."""
        logits, vectors, context = [], [], None
        for level in range(self.n_levels):
            lg = self.logits(level, self.guide(level, x, context))
            book = self.codebooks[level]
            soft = torch.softmax(lg.float(), dim=-1) @ book
            if mode == "soft":
                z = soft
            else:  # forward: exactly the argmax codeword; backward: the mixture's gradient
                z = book.index_select(0, lg.argmax(dim=-1)) + (soft - soft.detach())
            logits.append(lg)
            vectors.append(z)
            context = self.next_context(context, z)
        return logits, vectors
