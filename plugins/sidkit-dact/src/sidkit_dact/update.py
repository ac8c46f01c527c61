"""One period of DACT's drift-aware fine-tuning of a ``dact`` tokenizer (in place).

Per mini-batch: the live latent ``z = E(x)``, CDIM's confidence ``c`` (from the period's
start latent ``z_old``, ``sg(z)`` and the collaborative vector ``h``), the top-ρ STE mask
``m̃``, a drift pass on ``u = (1 − m̃) z_old + m̃ z`` and a stationary pass on
``v = m̃ z_old + (1 − m̃) z``, each quantised, decoded and scored with the tokenizer's own
loss (reconstruction, VQ, collaborative), the stationary pass anchored to ``z_old``, and a
KL between the period-start and the live layer-1 assignment distributions:
``L = γ·KL + L_drift + α·L_stat + w_conf·mean c²``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sidkit.errors import SidkitError
from sidkit.training import make_generator
from sidkit.types import ItemEmbeddings
from sidkit_grid.api import RQVAEOutput, rqvae_loss, run_seed
from sidkit_letter.api import contrastive_loss

from .cdim import ste_topk_mask
from .configs import DactUpdaterConfig

__all__ = ["DriftAwareFinetune", "tokenizer_terms", "forward_latent", "collaborative_view", "layer1_log_probs"]

_CF_VIEW = "collaborative"


def collaborative_view(embeddings: ItemEmbeddings, who: str) -> np.ndarray:
    """``views["collaborative"]`` (the period's CF vectors), or an error saying how to get it."""
    if _CF_VIEW not in embeddings.views:
        have = ", ".join(repr(v) for v in sorted(embeddings.views)) or "none"
        raise SidkitError(
            f"{who} needs the period's collaborative embeddings in ItemEmbeddings.views['collaborative'] "
            f"(use the `content+collab` encoder); the embeddings have views: {have}"
        )
    return np.ascontiguousarray(embeddings.views[_CF_VIEW], dtype=np.float32)


def forward_latent(model: Any, z: torch.Tensor) -> RQVAEOutput:
    """The RQ-VAE forward pass from a latent: residual quantisation, straight-through
    quantised latent, reconstruction."""
    codes, residuals, selected = model.quantize(z)
    z_q = z + (selected.sum(1) - z).detach()
    return RQVAEOutput(z, residuals, selected, codes, z_q, model.decoder(z_q))


def tokenizer_terms(tokenizer: Any, x: torch.Tensor, out: RQVAEOutput, h: torch.Tensor | None) -> torch.Tensor:
    """The ``letter`` loss of one pass without its diversity term: reconstruction + VQ
    (summed or averaged over levels per ``level_reduction``) + ``cf_weight`` × the
    collaborative contrastive loss of ``z_q`` against ``h`` (through ``cf_proj`` if any)."""
    cfg = tokenizer.config
    terms = rqvae_loss(x, out, cfg.beta)
    total = terms["total"]
    if getattr(cfg, "level_reduction", "sum") == "mean":
        levels = out.codes.shape[1]
        total = terms["recon"] + (terms["codebook"] + cfg.beta * terms["commitment"]) / levels
    if getattr(cfg, "cf_weight", 0.0) > 0 and h is not None:
        target = tokenizer.model.cf_proj(h) if tokenizer.model.cf_proj is not None else h
        total = total + cfg.cf_weight * contrastive_loss(out.z_q, target, cfg.cf_temperature, cfg.similarity)
    return total


def layer1_log_probs(z: torch.Tensor, codebook: torch.Tensor, tau: float) -> torch.Tensor:
    """``log softmax_k(−‖z − e_k‖² / tau)`` over the layer-1 codes."""
    d2 = (z * z).sum(-1, keepdim=True) - 2.0 * z @ codebook.T + (codebook * codebook).sum(-1)
    return torch.log_softmax(-d2 / tau, dim=-1)


def _device(ctx: Any, default: torch.device) -> torch.device:
    """The run's device (``ctx.device``; ``"auto"`` = CUDA when available), else ``default``."""
    name = getattr(ctx, "device", None)
    if not name:
        return torch.device(default)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    while True:
        yield from torch.randperm(n, generator=gen).split(batch_size)


class DriftAwareFinetune:
    """DACT's update of ``tokenizer`` (a fitted ``dact`` tokenizer, changed in place) on the
    period's ``embeddings`` (input view and ``views["collaborative"]``). The constructor
    records the period-start latents ``z_old`` and layer-1 log-probabilities; :meth:`run`
    trains; :meth:`losses` scores rows; :meth:`confidence` gives CDIM's ``c`` per item."""

    who = "sid-updater dact"

    def __init__(self, tokenizer: Any, embeddings: ItemEmbeddings, config: DactUpdaterConfig, ctx: Any = None):
        model = getattr(tokenizer, "model", None)
        if model is None or not hasattr(model, "cdim"):
            raise SidkitError(
                f"{self.who} needs a fitted tokenizer 'dact' (its state holds the drift detector CDIM); "
                f"got tokenizer {getattr(tokenizer, 'name', type(tokenizer).__name__)!r}"
            )
        self.tokenizer, self.config, self.ctx = tokenizer, config, ctx
        self.device = _device(ctx, tokenizer.device)
        tokenizer.device = self.device
        model.to(self.device)
        if tokenizer.whitening is not None:
            tokenizer.whitening = tuple(t.to(self.device) for t in tokenizer.whitening)
        with torch.no_grad():
            self.x = tokenizer.transform(torch.from_numpy(tokenizer.input_matrix(embeddings)).to(self.device))
        h = torch.from_numpy(collaborative_view(embeddings, self.who)).to(self.device)
        self.h = h
        self.z_old, self.logp_old = self._period_start()
        self.history: list[dict[str, float]] = []

    @property
    def model(self) -> Any:
        return self.tokenizer.model

    @torch.no_grad()
    def _period_start(self) -> tuple[torch.Tensor, torch.Tensor]:
        was = self.model.training
        self.model.eval()
        z = self.model.encoder(self.x)
        logp = layer1_log_probs(z, self.model.codebooks[0], self.config.tau_g)
        self.model.train(was)
        return z, logp

    def _cdim_h(self, rows: torch.Tensor) -> torch.Tensor:
        h = self.h[rows]
        proj = self.model.cf_proj
        return (proj(h) if proj is not None else h).detach()

    def losses(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every term of the loss on ``rows`` with the current weights (``total`` included)."""
        cfg, model, tok = self.config, self.model, self.tokenizer
        x, z_old, h = self.x[rows], self.z_old[rows], self.h[rows]
        z = model.encoder(x)
        if cfg.cdim:
            c = model.cdim(z_old, z.detach(), self._cdim_h(rows))
            mask = ste_topk_mask(c, cfg.rho)[:, None]
        else:
            c, mask = None, torch.ones(len(rows), 1, device=z.device)
        u = (1 - mask) * z_old + mask * z
        terms = {"drift": tokenizer_terms(tok, x, forward_latent(model, u), h)}
        total = terms["drift"]
        if cfg.alpha > 0:
            v = mask * z_old + (1 - mask) * z
            terms["stationary"] = tokenizer_terms(tok, x, forward_latent(model, v), h) + cfg.anchor * F.mse_loss(v, z_old)
            total = total + cfg.alpha * terms["stationary"]
        if cfg.gamma > 0:
            logp = layer1_log_probs(z, model.codebooks[0], cfg.tau_g)
            old = self.logp_old[rows]
            kl = (old.exp() * (old - logp)).sum(-1).mean()
            terms["kl"] = kl / model.codebooks.shape[1] if cfg.kl_per_code else kl
            total = total + cfg.gamma * terms["kl"]
        if c is not None:
            terms["conf"] = c.pow(2).mean()
            total = total + cfg.conf_weight * terms["conf"]
        terms["total"] = total
        return terms

    def run(self) -> list[dict[str, float]]:
        """``steps`` AdamW steps over shuffled mini-batches, linear warm-up then linear decay."""
        cfg, model = self.config, self.model
        steps = cfg.steps
        params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        warm = math.ceil(cfg.warmup * steps)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (steps - step) / max(1, steps - warm))

        schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        gen = make_generator(run_seed(cfg.seed, self.ctx))
        batches = _batches(len(self.x), cfg.batch_size, gen)
        self.history = []
        model.train()
        for step in range(1, steps + 1):
            rows = next(batches).to(self.device)
            terms = self.losses(rows)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            schedule.step()
            if step == 1 or step == steps or step % 50 == 0:
                self.history.append({"step": step, **{k: float(v.detach()) for k, v in terms.items()}})
        model.eval()
        return self.history

    @torch.no_grad()
    def confidence(self) -> np.ndarray:
        """CDIM's drift confidence of every item with the current weights."""
        was = self.model.training
        self.model.eval()
        rows = torch.arange(len(self.x), device=self.device)
        c = self.model.cdim(self.z_old, self.model.encoder(self.x), self._cdim_h(rows))
        self.model.train(was)
        return c.cpu().numpy()
