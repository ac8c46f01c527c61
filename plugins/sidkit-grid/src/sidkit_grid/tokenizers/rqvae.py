"""Tokenizer ``rqvae``: TIGER's RQ-VAE, built for extension (LETTER subclasses it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training import make_generator
from sidkit.types import ItemEmbeddings

from ..configs.tokenizers import RQVAEConfig
from .base import GridTokenizer
from .common import ctx_device, nearest, progress_bar, reseed_codes, run_seed
from .kmeans import minibatch_kmeans
from .rqvae_model import RQVAE, RQVAEOutput, fit_whitening, rqvae_loss

__all__ = ["RQVAETokenizer", "epoch_batches", "code_usage"]

KMEANS_INIT_STEPS = 50
LOG_EVERY = 50


def epoch_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless item-index batches: a fresh permutation every epoch, cut into ``batch_size``."""
    while True:
        perm = torch.randperm(n, generator=gen)
        yield from perm.split(batch_size)


def code_usage(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """``[L, W]`` counts of each code per level in a ``[B, L]`` batch of codes."""
    levels = codes.shape[1]
    offsets = torch.arange(levels, device=codes.device) * codebook_size
    return torch.bincount((codes + offsets).flatten(), minlength=levels * codebook_size).view(levels, codebook_size)


class RQVAETokenizer(GridTokenizer):
    """RQ-VAE tokenizer. Extension points for subclasses (e.g. LETTER):

    - :meth:`on_fit_start` sees the full :class:`~sidkit.types.ItemEmbeddings` (and its
      ``views``) and the context before training;
    - :meth:`extra_losses` returns additional, already weighted loss terms for a batch
      (``items`` are the batch's item indices); they are added to ``total``;
    - :meth:`build_model`, :meth:`build_optimizer`, :meth:`trainable_parameters`,
      :meth:`state`/:meth:`set_state` can be overridden as usual.

    :meth:`finetune` continues training from the current weights (continual updates).
    """

    name = "rqvae"

    def __init__(self, config: RQVAEConfig | None = None):
        super().__init__(config or RQVAEConfig())
        self.model: RQVAE | None = None
        self.whitening: tuple[torch.Tensor, torch.Tensor] | None = None  # (mean, matrix)
        self.history: list[dict[str, float]] = []  # losses at step 1, every LOG_EVERY steps, at the end
        self._resume: tuple[int, float | None] | None = None  # (steps, lr) while finetune() runs fit()

    # -- extension points ------------------------------------------------------------------------
    def build_model(self, in_dim: int) -> RQVAE:
        cfg = self.config
        return RQVAE(in_dim, cfg.hidden_dims, cfg.latent_dim, cfg.levels, cfg.codebook_size)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.model.parameters())

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        cfg = self.config
        cls = {
            "adagrad": torch.optim.Adagrad,
            "adam": torch.optim.Adam,
            "adamw": torch.optim.AdamW,
            "sgd": torch.optim.SGD,
        }
        return cls[cfg.optimizer](params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def on_fit_start(self, embeddings: ItemEmbeddings, ctx: Any) -> None:
        """Called after the model is built, before the first step."""

    def extra_losses(self, x: torch.Tensor, out: RQVAEOutput, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """Additional weighted loss terms for a batch (none here)."""
        return {}

    def losses(self, x: torch.Tensor, out: RQVAEOutput, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """:func:`rqvae_loss` plus :meth:`extra_losses`, all summed into ``total``."""
        terms = rqvae_loss(x, out, self.config.beta)
        extra = self.extra_losses(x, out, items)
        for key, value in extra.items():
            terms[key] = value
            terms["total"] = terms["total"] + value
        return terms

    # -- training --------------------------------------------------------------------------------
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The network's input: the embeddings, PCA-whitened when ``whiten``."""
        if self.whitening is None:
            return x
        mean, matrix = self.whitening
        return (x - mean) @ matrix

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor, gen: torch.Generator) -> None:
        """k-means on the residuals of a batch, level by level (TIGER's initialisation)."""
        r = self.model.encoder(x)
        for book in self.model.codebooks:
            centres = minibatch_kmeans(r, book.shape[0], steps=KMEANS_INIT_STEPS, batch_size=len(r), gen=gen)
            book.copy_(centres)
            r = r - centres[nearest(r, centres)[0]]

    def fit(self, embeddings: ItemEmbeddings, ctx: Any = None) -> None:
        cfg = self.config
        device = ctx_device(ctx)
        seed = run_seed(cfg.seed, ctx)
        gen = make_generator(seed)
        x = torch.tensor(embeddings.values, dtype=torch.float32, device=device)
        resume = self._resume
        if resume is None:
            self.whitening = tuple(t.to(device) for t in fit_whitening(x)) if cfg.whiten else None
        elif embeddings.dim != self.dim:
            raise SidkitError(f"tokenizer {self.name} was fitted on {self.dim}-d inputs; finetune() got {embeddings.dim}-d")
        else:  # finetune(): the fitted whitening and weights, moved to the device
            self.whitening = None if self.whitening is None else tuple(t.to(device) for t in self.whitening)
        x = self.transform(x)
        if resume is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.model = self.build_model(embeddings.dim).to(device)
        else:
            self.model.to(device)
        self.device, self.dim = device, embeddings.dim
        self.on_fit_start(embeddings, ctx)
        opt = self.build_optimizer(self.trainable_parameters())
        steps = cfg.steps if resume is None else resume[0]
        if resume is not None and resume[1] is not None:
            for group in opt.param_groups:
                group["lr"] = resume[1]
        batches = epoch_batches(len(x), cfg.batch_size, gen)
        usage = torch.zeros(cfg.levels, cfg.codebook_size, dtype=torch.long, device=device)
        self.history = []
        self.model.train()
        with progress_bar(steps, ctx, self.name) as bar:
            for step in range(1, steps + 1):
                items = next(batches).to(device)
                xb = x[items]
                if step == 1 and cfg.kmeans_init and resume is None:
                    self.init_codebooks(xb, gen)
                out = self.model(xb)
                terms = self.losses(xb, out, items)
                opt.zero_grad(set_to_none=True)
                terms["total"].backward()
                opt.step()
                usage += code_usage(out.codes, cfg.codebook_size)
                if cfg.reseed_every and step % cfg.reseed_every == 0 and resume is None:
                    self.reseed_dead(out, usage == 0)
                    usage.zero_()
                if step == 1 or step % LOG_EVERY == 0 or step == steps:
                    self.history.append({"step": step, **{k: float(v.detach()) for k, v in terms.items()}})
                    bar.set_postfix(loss=f"{self.history[-1]['total']:.4f}")
                bar.update(1)
        self.model.eval()

    def finetune(self, embeddings: ItemEmbeddings, ctx: Any = None, steps: int = 0, *, lr: float | None = None) -> None:
        """Continue training the fitted tokenizer for ``steps`` mini-batches on ``embeddings``
        (the same inputs as :meth:`fit`; more or other items are fine, the width must match).

        Training resumes from the current weights: no re-initialisation, no k-means, the
        fitted whitening kept, no dead-code re-seeding, so code ``k`` stays code ``k``; the
        optimizer is fresh (the config's, at ``lr`` when given). A subclass's :meth:`fit`
        wrapper runs as usual (LETTER reads its collaborative view again), and ``history``
        holds this run's losses. ``steps = 0`` changes nothing."""
        if not self.fitted or self.model is None:
            raise SidkitError(f"tokenizer {self.name}: finetune() needs a fitted tokenizer; call fit() or load() first")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise SidkitError(f"tokenizer {self.name}: finetune steps must be an integer >= 0, got {steps!r}")
        if lr is not None and not lr > 0:
            raise SidkitError(f"tokenizer {self.name}: finetune lr must be > 0, got {lr!r}")
        self._resume = (steps, lr)
        try:
            self.fit(embeddings, ctx)
        finally:
            self._resume = None

    @torch.no_grad()
    def reseed_dead(self, out: RQVAEOutput, dead: torch.Tensor) -> None:
        """Move each level's dead codes onto that level's batch residuals farthest from their code."""
        dist = (out.residuals - out.selected).pow(2).sum(-1).detach()  # [B, L]
        for level, book in enumerate(self.model.codebooks):
            if bool(dead[level].any()):
                reseed_codes(
                    book.data, out.residuals[:, level].detach(), out.codes[:, level], dist[:, level], dead[level]
                )

    # -- assignment and state ----------------------------------------------------------------------
    def raw_codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.codes(self.transform(x))

    def _structure(self) -> dict[str, Any]:
        cfg = self.config
        return {
            **super()._structure(),
            "hidden_dims": list(cfg.hidden_dims),
            "latent_dim": cfg.latent_dim,
            "whiten": cfg.whiten,
        }

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        if self.whitening is not None:
            arrays["whiten.mean"], arrays["whiten.matrix"] = (t.cpu().numpy() for t in self.whitening)
        return arrays, {}

    def state_shapes(self, meta):
        shapes = {"model.codebooks": (meta["levels"], meta["codebook_size"], meta["latent_dim"])}
        if meta["whiten"]:
            shapes.update({"whiten.mean": (meta["dim"],), "whiten.matrix": (meta["dim"], meta["dim"])})
        return shapes

    def set_state(self, arrays, meta) -> None:
        model = self.build_model(int(meta["dim"]))
        weights = {k[len("model.") :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("model.")}
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ArtifactError(f"tokenizer {self.name}: saved weights do not fit the model: {exc}") from None
        self.model = model.eval()
        self.whitening = (
            (torch.from_numpy(arrays["whiten.mean"]), torch.from_numpy(arrays["whiten.matrix"]))
            if meta["whiten"]
            else None
        )
