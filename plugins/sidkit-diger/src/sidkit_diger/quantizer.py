"""The tokenizer inside the generator's graph: a copy of an RQ-VAE's encoder and residual
codebooks with DIGER's assignment, the noise state (σ, FrqUD frequencies) and the current
SIDs of the catalog, all parameters and buffers so that checkpoints restore them."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import attrs
import torch
import torch.nn.functional as F
from sidkit_grid.api import RQVAE
from torch import nn

from .assignment import (
    AssignOptions,
    code_logits,
    explore,
    hot_items,
    noise_scale,
    soft_select,
    straight_through,
    update_frequency,
)

__all__ = ["Assignment", "JointTokenizer", "encoder_dims", "STATS"]

STATS = ("seen", "agree", "hot", "steps", "gen", "vq", "recon")
"""What ``JointTokenizer.stats`` sums over the epoch's steps (items seen, items whose
sampled codes equal their argmin ones, hot items, steps, and the losses)."""

ASSIGN_ROWS = 65_536


@attrs.frozen(eq=False)
class Assignment:
    """One training assignment of a batch of items.

    - The exploring path (the tokenizer's own losses): ``codes [B, L]`` sampled with noise,
      their weights ``y [B, L, K]``, ``residuals``/``quantized [B, L, D]`` (``quantized`` is
      exactly the selected codes).
    - The deterministic path (what inference assigns, and what the recommender reads):
      ``argmax [B, L]``, the nearest code of each level's residual along the argmin chain,
      and its weights ``y_argmax [B, L, K]`` (``softmax(ℓ/τ)``; STE: the straight-through
      one-hot). Without noise the two paths are one.
    - The latent ``z [B, D]`` and which items were ``hot`` (FrqUD)."""

    codes: torch.Tensor
    argmax: torch.Tensor
    y: torch.Tensor
    y_argmax: torch.Tensor
    residuals: torch.Tensor
    quantized: torch.Tensor
    z: torch.Tensor
    hot: torch.Tensor | None


def encoder_dims(encoder: nn.Sequential) -> list[int]:
    """``[in, hidden..., latent]`` of an MLP encoder (its Linear layers)."""
    linears = [m for m in encoder if isinstance(m, nn.Linear)]
    return [linears[0].in_features] + [m.out_features for m in linears]


class JointTokenizer(nn.Module):
    """Encoder + ``codebooks [L, K, D]`` with the differentiable assignment.

    Parameters: the encoder, the codebooks and ``sigma [L]`` (trained only under SDUD).
    Buffers: ``freq [L, K]`` (FrqUD's EMA, init 1/K), ``sids``/``initial [n_items, L']``
    (the catalog's current and first SIDs, conflict level included), ``stats`` (the
    epoch's sums, :data:`STATS`), the whitening ``mean``/``matrix`` (empty when none) and
    the non-persistent ``inputs`` (the catalog's transformed embeddings)."""

    def __init__(
        self,
        encoder: nn.Sequential,
        codebooks: torch.Tensor,
        options: AssignOptions,
        sids: torch.Tensor,
        whitening: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        super().__init__()
        self.options = options
        self.encoder = encoder
        self.codebooks = nn.Parameter(codebooks.detach().clone())
        levels, k, _ = codebooks.shape
        self.sigma = nn.Parameter(torch.full((levels,), float(options.sigma_init)), requires_grad=options.learns_sigma)
        self.register_buffer("freq", torch.full((levels, k), 1.0 / k))
        self.register_buffer("sids", sids.clone())
        self.register_buffer("initial", sids.clone())
        self.register_buffer("stats", torch.zeros(len(STATS), dtype=torch.float64))
        mean, matrix = whitening if whitening is not None else (torch.zeros(0), torch.zeros(0, 0))
        self.register_buffer("whiten_mean", mean.detach().clone().float())
        self.register_buffer("whiten_matrix", matrix.detach().clone().float())
        self.register_buffer("inputs", torch.zeros(0, encoder_dims(encoder)[0]), persistent=False)

    @classmethod
    def from_rqvae(
        cls,
        model: nn.Module,
        options: AssignOptions,
        sids: torch.Tensor,
        whitening: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> JointTokenizer:
        """A copy of an RQ-VAE's encoder and codebooks (``rqvae``, ``letter``, ``diger``)."""
        return cls(copy.deepcopy(model.encoder).cpu(), model.codebooks.detach().cpu(), options, sids, whitening)

    @classmethod
    def empty(
        cls, dims: Sequence[int], levels: int, codebook_size: int, n_items: int, sid_levels: int,
        options: AssignOptions, whiten: bool,
    ) -> JointTokenizer:  # fmt: skip
        """An untrained module of the given shapes, for :func:`sidkit.training.load_weights`."""
        rqvae = RQVAE(dims[0], dims[1:-1], dims[-1], levels, codebook_size)
        d = dims[0]
        whitening = (torch.zeros(d), torch.zeros(d, d)) if whiten else None
        sids = torch.zeros(n_items, sid_levels, dtype=torch.long)
        return cls(rqvae.encoder, rqvae.codebooks, options, sids, whitening)

    @property
    def levels(self) -> int:
        return self.codebooks.shape[0]

    @property
    def codebook_size(self) -> int:
        return self.codebooks.shape[1]

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The RQ-VAE tokenizer's input transform (PCA whitening when it had one)."""
        if self.whiten_mean.numel() == 0:
            return x
        return (x - self.whiten_mean) @ self.whiten_matrix

    def set_inputs(self, inputs: torch.Tensor) -> None:
        """The catalog's transformed embeddings (rows = items), read by index in training."""
        self.inputs = inputs.to(self.codebooks.device, torch.float32)

    # -- training ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Assignment:
        """See :meth:`_assign`; always in float32, also inside a bf16 autocast (``train.precision
        = "bf16"``): in bf16 the distances of near-tied codes round together and flip the argmin."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._assign(x.float())

    def _assign(self, x: torch.Tensor) -> Assignment:
        """Assign a batch of (transformed) inputs with exploration (training) or plainly
        (eval: argmax, no noise, the FrqUD frequencies left alone).

        Two residual chains when some item gets noise: the exploring one (sampled codes; a
        sampled level-1 code makes the level-2 residual another vector) and the argmin one,
        whose codes are the SIDs inference gives. The FrqUD frequencies count the argmin
        codes, and the hot decision is taken on level 1 before this batch's update."""
        opt = self.options
        z = self.encoder(x)
        n = len(z)
        scales = noise_scale(self.sigma) if self.training else torch.zeros_like(self.sigma)
        hot = None
        if self.training and opt.frequency_gated:
            first = code_logits(z, self.codebooks[0], opt.minmax_logits).argmax(-1)
            hot = hot_items(self.freq[0], first, opt.hot_ratio)
        explores = opt.assignment != "ste" and bool((scales > 0).any()) and (hot is None or bool(hot.any()))
        r = r_det = z
        paths: dict[str, list[torch.Tensor]] = {k: [] for k in ("codes", "argmax", "y", "y_argmax", "res", "quant")}
        for level in range(self.levels):
            book = self.codebooks[level]
            logits_det = code_logits(r_det, book, opt.minmax_logits)
            if opt.assignment == "ste":
                det, y_det = straight_through(logits_det)
            else:
                det, y_det = logits_det.argmax(-1), F.softmax(logits_det / opt.tau, dim=-1)
            if self.training:
                update_frequency(self.freq[level], det, opt.ema_decay)
            c, y = det, y_det
            if explores:
                scale = scales[level].expand(n) if hot is None else scales[level] * hot
                c, y = explore(code_logits(r, book, opt.minmax_logits), scale, opt.tau, opt.assignment)
            e = self._select(book, c, y)
            e_det = self._select(book, det, y_det) if explores else e
            for key, value in zip(paths, (c, det, y, y_det, r, e), strict=True):
                paths[key].append(value)
            r, r_det = r - e, r_det - e_det
        out = {k: torch.stack(v, 1) for k, v in paths.items()}
        return Assignment(
            out["codes"], out["argmax"], out["y"], out["y_argmax"], out["res"], out["quant"], z, hot
        )  # fmt: skip

    def _select(self, book: torch.Tensor, codes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The selected codes, with the soft update's gradient (or only the selected codes' own:
        without ``soft_update``, the "w/o soft update" ablation, and always under STE, whose
        hard assignment updates only the codes it selects)."""
        hard = not self.options.soft_update or self.options.assignment == "ste"
        return book.index_select(0, codes) if hard else soft_select(book, codes, y)

    def losses(self, a: Assignment) -> dict[str, torch.Tensor]:
        """``vq`` = Σ_l [MSE(e_l, sg r_l) + β·MSE(r_l, sg e_l)] and ``recon`` = MSE(Σ_l e_l, z):
        the reconstruction is measured on the quantised latent, without the RQ-VAE decoder."""
        codebook = (a.quantized - a.residuals.detach()).pow(2).mean(dim=(0, 2)).sum()
        commitment = (a.residuals - a.quantized.detach()).pow(2).mean(dim=(0, 2)).sum()
        recon = (a.quantized.sum(1) - a.z).pow(2).mean()
        return {"vq": codebook + self.options.beta * commitment, "recon": recon}

    # -- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def argmin_codes(self, x: torch.Tensor, rows: int = ASSIGN_ROWS) -> torch.Tensor:
        """``[n, L]`` nearest-code paths of (transformed) inputs, ``rows`` at a time, in float32
        whatever autocast is active (validation runs inside the training loop's)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._argmin_codes(x.float(), rows)

    def _argmin_codes(self, x: torch.Tensor, rows: int) -> torch.Tensor:
        out = []
        for s in range(0, len(x), rows):
            r = self.encoder(x[s : s + rows])
            path = []
            for book in self.codebooks:
                c = code_logits(r, book, minmax=False).argmax(-1)
                path.append(c)
                r = r - book.index_select(0, c)
            out.append(torch.stack(path, 1))
        return torch.cat(out) if out else torch.zeros(0, self.levels, dtype=torch.long, device=x.device)
