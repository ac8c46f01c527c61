"""DIGER's differentiable code assignment (DRIL) and its uncertainty decay, as functions.

Per level, with residuals ``r [B, D]`` and the codebook ``E [K, D]``:

- logits ``ℓ_k = −‖r − e_k‖²`` (:func:`code_logits`; optionally min-max scaled over the
  batch × K matrix to [−1, 1] first);
- Gumbel (or Gaussian) exploration: ``c = argmax(ℓ + s·g)``, ``y = softmax((ℓ + s·g)/τ)``
  with a per-item noise scale ``s`` (:func:`explore`);
- the soft update ``e = E[c] + (y − sg(y))·E`` (:func:`soft_select`): its value is exactly
  ``E[c]``, its gradient that of ``(onehot(c) − sg(y) + y)·E``;
- SDUD's loss for the learned scale (:func:`sdud_loss`) and FrqUD's EMA code frequency and
  hot codes (:func:`update_frequency`, :func:`hot_items`).
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

__all__ = [
    "SIGMA_FLOOR",
    "AssignOptions",
    "code_logits",
    "noise_scale",
    "explore",
    "straight_through",
    "soft_select",
    "sdud_loss",
    "update_frequency",
    "hot_items",
]

SIGMA_FLOOR = 1e-4
"""A noise scale below this is exactly zero (deterministic assignment)."""


@attrs.frozen(kw_only=True)
class AssignOptions:
    """The assignment settings of a generator config (see :class:`~sidkit_diger.config.DigerConfig`)."""

    assignment: str = "gumbel"
    noise: str = "frqud"
    tau: float = 2.0
    minmax_logits: bool = True
    sigma_init: float = 1.0
    sdud_lambda: float = 1.7
    ema_decay: float = 0.99
    hot_ratio: float = 1.5
    beta: float = 0.25
    soft_update: bool = True

    @classmethod
    def from_config(cls, config) -> AssignOptions:
        return cls(**{f.name: getattr(config, f.name) for f in attrs.fields(cls)})

    @property
    def learns_sigma(self) -> bool:
        """SDUD: the noise scale is a trained parameter."""
        return self.assignment != "ste" and self.noise in ("sdud", "both")

    @property
    def frequency_gated(self) -> bool:
        """FrqUD: only items whose level-1 code is hot get noise."""
        return self.assignment != "ste" and self.noise in ("frqud", "both")


def code_logits(r: torch.Tensor, book: torch.Tensor, minmax: bool) -> torch.Tensor:
    """``[B, K]`` logits ``−‖r − e_k‖²``; with ``minmax`` the distances are first scaled to
    [−1, 1] over the whole matrix (the scale is a constant of the batch: not differentiated)."""
    d = (r * r).sum(1, keepdim=True) - 2.0 * (r @ book.T) + (book * book).sum(1)[None, :]
    if minmax:
        lo, hi = d.detach().min(), d.detach().max()
        d = (d - (hi + lo) / 2) / ((hi - lo) / 2 + 1e-5)
    return -d


def noise_scale(sigma: torch.Tensor) -> torch.Tensor:
    """``|σ|``, exactly 0 below :data:`SIGMA_FLOOR`; not differentiated (σ learns from L_σ)."""
    s = sigma.detach().abs()
    return torch.where(s < SIGMA_FLOOR, torch.zeros_like(s), s)


def explore(
    logits: torch.Tensor, scale: torch.Tensor, tau: float, kind: str = "gumbel"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(c, y)``: the code ``argmax(ℓ + s·g)`` and ``softmax((ℓ + s·g)/τ)`` with ``g`` Gumbel(0, 1)
    or N(0, 1) (``kind = "gaussian"``) drawn from torch's global RNG, ``s`` one scale per row
    (``[B]``; rows with 0 are deterministic: ``argmax ℓ`` and ``softmax(ℓ/τ)``)."""
    if kind == "gaussian":
        g = torch.randn_like(logits)
    else:
        g = -torch.empty_like(logits).exponential_().log()
    noisy = logits + scale[:, None] * g
    return noisy.argmax(-1), F.softmax(noisy / tau, dim=-1)


def straight_through(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Naive STE, the paper's baseline: ``c = argmax ℓ`` (no noise) and a ``y`` whose value is
    ``onehot(c)`` and whose gradient reaches only the selected code's logit ``ℓ_c = −‖r − e_c‖²``
    (so only the selected code and the residual, hence the encoder, learn from it; codes no item
    selected get nothing, unlike the softmax's gradient, which reaches every code)."""
    c = logits.argmax(-1)
    hard = F.one_hot(c, logits.shape[-1]).to(logits.dtype)
    return c, hard + hard * (logits - logits.detach())


def soft_select(book: torch.Tensor, codes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``E[c] + (y − sg(y))·E``: exactly ``E[c]`` forward, the soft update's gradient backward
    (through ``y`` every code reaches the loss, weighted by ``y``)."""
    return book.index_select(0, codes) + (y - y.detach()) @ book


def sdud_loss(gen_loss: torch.Tensor, sigma: torch.Tensor, lam: float) -> torch.Tensor:
    """``L_σ = L_gen / (2(σ̄ + λ)²) + log(σ̄ + λ)`` with ``σ̄`` the mean ``|σ|`` over levels.

    Its minimum over ``σ̄ ≥ 0`` is at ``max(0, √L_gen − λ)``: the noise shrinks as the
    recommendation loss falls."""
    s = sigma.abs().mean() + lam
    return gen_loss / (2 * s * s) + torch.log(s)


@torch.no_grad()
def update_frequency(freq: torch.Tensor, codes: torch.Tensor, decay: float) -> None:
    """FrqUD's EMA, in place: ``f ← decay·f + (1 − decay)·histogram(codes)/B``."""
    hist = torch.bincount(codes, minlength=freq.shape[0]).to(freq.dtype) / max(1, codes.numel())
    freq.mul_(decay).add_(hist, alpha=1.0 - decay)


@torch.no_grad()
def hot_items(freq: torch.Tensor, codes: torch.Tensor, ratio: float) -> torch.Tensor:
    """``[B]`` bool: the item's code is hot, its EMA frequency above ``ratio / K``."""
    return freq.index_select(0, codes) > ratio / freq.shape[0]
