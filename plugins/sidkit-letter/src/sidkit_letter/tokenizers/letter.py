"""Tokenizer ``letter``: GRID's RQ-VAE with LETTER's collaborative and diversity regularisers
and Sinkhorn-balanced collision handling (Wang et al., CIKM 2024)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sidkit.errors import SidkitError
from sidkit.training import make_generator
from sidkit.types import ItemEmbeddings, SIDTable
from sidkit_grid.api import (
    KMEANS_INIT_STEPS,
    RQVAE,
    RQVAEOutput,
    RQVAETokenizer,
    deduplicate,
    minibatch_kmeans,
    nearest,
    rqvae_loss,
    run_seed,
)
from torch import nn

from ..configs.tokenizers import LetterConfig
from .regularizers import balanced_groups, code_groups, contrastive_loss, diversity_loss, sample_positives
from .sinkhorn import balanced_codes

__all__ = ["LetterTokenizer", "LetterRQVAE", "INIT_ROWS", "SINKHORN_BUDGET", "collision_count"]

INIT_ROWS = 16_384
"""Items the catalog-wide k-means initialisation runs on (a random sample beyond that)."""

SINKHORN_BUDGET = 1 << 22
"""Entries of the ``[groups, size, W]`` float64 problems the collision rounds solve at once
(32 MiB per array; the iterations keep a few such arrays alive)."""

_AUX_SEED = 0x1E77E5
"""Offset of the generator for LETTER's own random draws (catalog sample, k-means,
positives), so the batch order stays the one ``rqvae`` draws with the same seed."""

_CF_VIEW, _CONTENT_VIEW = "collaborative", "content"


def collision_count(codes: np.ndarray) -> int:
    """Items whose code row another, earlier item already has (``n − distinct rows``)."""
    if len(codes) == 0:
        return 0
    return int(len(codes) - len(np.unique(codes, axis=0)))


class LetterRQVAE(RQVAE):
    """:class:`~sidkit_grid.api.RQVAE` whose last level is assigned by
    Sinkhorn over the batch while training (``balance_last``), plus the optional linear
    map ``cf_proj`` from collaborative vectors to the latent width (used by the loss only)."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        latent_dim: int,
        levels: int,
        codebook_size: int,
        *,
        cf_dim: int = 0,
        balance_last: bool = False,
        sinkhorn_epsilon: float = 0.003,
        sinkhorn_iters: int = 50,
    ):
        super().__init__(in_dim, hidden_dims, latent_dim, levels, codebook_size)
        self.cf_proj = nn.Linear(cf_dim, latent_dim, bias=False) if cf_dim else None
        self.balance_last = balance_last
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iters = sinkhorn_iters

    def select_codes(self, level: int, r: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
        """Nearest codes; in training with ``balance_last``, Sinkhorn-balanced codes on the
        last level (LETTER)."""
        if self.training and self.balance_last and level == self.levels - 1:
            return balanced_codes(r, book, self.sinkhorn_epsilon, self.sinkhorn_iters)
        return super().select_codes(level, r, book)


class LetterTokenizer(RQVAETokenizer):
    """LETTER: RQ-VAE + α·L_CF + β·L_div, Sinkhorn on the last level, collision rounds.

    ``fit`` quantises the matrix chosen by ``input`` and, when ``cf_weight > 0``, aligns
    each item's quantised latent with ``views["collaborative"]``. ``assign`` gives argmin
    codes, re-assigns the last level of colliding items by Sinkhorn for up to
    ``collision_rounds`` rounds, then applies ``dedup``. ``codes`` stays the plain argmin.
    """

    name = "letter"

    def __init__(self, config: LetterConfig | None = None):
        super().__init__(config or LetterConfig())
        self.cf_dim = 0  # width of the collaborative vectors the projection takes (0: none)
        self._cf: torch.Tensor | None = None
        self._init_rows: torch.Tensor | None = None
        self._aux_gen: torch.Generator | None = None
        self._groups: list | None = None
        self._step = 0
        self._epoch_steps = 1

    # -- inputs ----------------------------------------------------------------------------------
    def _view(self, embeddings: ItemEmbeddings, view: str, why: str) -> np.ndarray:
        if view in embeddings.views:
            return np.ascontiguousarray(embeddings.views[view], dtype=np.float32)
        have = ", ".join(repr(v) for v in sorted(embeddings.views)) or "none"
        hint = (
            "SASRec item embeddings aligned with the items: use the `content+collab` encoder "
            "(content embeddings plus SASRec's, in views 'content' and 'collaborative'), or "
            "put them there yourself"
            if view == _CF_VIEW
            else 'the content embeddings: use the `content+collab` encoder, or set input = "values" '
            "to quantise the main embedding matrix"
        )
        raise SidkitError(
            f"tokenizer {self.name}: {why} needs ItemEmbeddings.views[{view!r}] ({hint}); "
            f"the embeddings have views: {have}"
        )

    def select_input(self, embeddings: ItemEmbeddings) -> np.ndarray:
        """The ``[n_items, d]`` matrix that ``input`` names (what is quantised)."""
        mode = self.config.input
        why = f"input = {mode!r}"
        if mode == "values":
            return embeddings.values
        if mode == "content":
            return self._view(embeddings, _CONTENT_VIEW, why)
        if mode == "collaborative":
            return self._view(embeddings, _CF_VIEW, why)
        content = self._view(embeddings, _CONTENT_VIEW, why)
        return np.ascontiguousarray(np.hstack([content, self._view(embeddings, _CF_VIEW, why)]), dtype=np.float32)

    def _check_input(self, embeddings: ItemEmbeddings) -> np.ndarray:
        if not self.fitted:
            raise SidkitError(f"tokenizer {self.name}: call fit() or load() before assign()")
        values = self.select_input(embeddings)
        if values.ndim != 2 or values.shape[1] != self.dim:
            raise SidkitError(
                f"tokenizer {self.name} was fitted on {self.dim}-d embeddings (input = {self.config.input!r}), "
                f"got {values.shape[1] if values.ndim == 2 else values.shape}-d"
            )
        return values

    # -- extension points -----------------------------------------------------------------------
    def build_model(self, in_dim: int) -> LetterRQVAE:
        cfg = self.config
        return LetterRQVAE(
            in_dim,
            cfg.hidden_dims,
            cfg.latent_dim,
            cfg.levels,
            cfg.codebook_size,
            cf_dim=self.cf_dim,
            balance_last=cfg.sinkhorn_train,
            sinkhorn_epsilon=cfg.sinkhorn_epsilon,
            sinkhorn_iters=cfg.sinkhorn_iters,
        )

    def fit(self, embeddings: ItemEmbeddings, ctx: Any = None) -> None:
        cfg = self.config
        x = self.select_input(embeddings)
        cf = None
        if cfg.cf_weight > 0:
            cf = self._view(embeddings, _CF_VIEW, f"cf_weight = {cfg.cf_weight}")
            if cf.ndim != 2:
                raise SidkitError(f"tokenizer {self.name}: views['collaborative'] must be 2-D, got shape {cf.shape}")
        project = cf is not None and (cfg.cf_projection == "linear" or cf.shape[1] != cfg.latent_dim)
        self.cf_dim = int(cf.shape[1]) if project else 0
        self._cf = cf
        try:
            super().fit(ItemEmbeddings(x, views=embeddings.views), ctx)
        finally:  # training-only state is not kept
            self._cf = self._init_rows = self._aux_gen = self._groups = None

    def on_fit_start(self, embeddings: ItemEmbeddings, ctx: Any) -> None:
        cfg = self.config
        n = embeddings.n_items
        self._aux_gen = make_generator(run_seed(cfg.seed, ctx) + _AUX_SEED)
        self._step = 0
        self._epoch_steps = max(1, math.ceil(n / cfg.batch_size))
        self._groups = None
        if self._cf is not None:
            self._cf = torch.as_tensor(self._cf, dtype=torch.float32, device=self.device)
        self._init_rows = None
        if cfg.kmeans_init and cfg.kmeans_init_catalog:
            rows = torch.randperm(n, generator=self._aux_gen)[:INIT_ROWS] if n > INIT_ROWS else torch.arange(n)
            x = torch.as_tensor(embeddings.values[rows.numpy()], device=self.device)
            self._init_rows = self.transform(x)

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor, gen: torch.Generator) -> None:
        """k-means level by level on the encoded residuals of the catalog (LETTER), or of the
        first batch like ``rqvae`` when ``kmeans_init_catalog`` is off."""
        if self._init_rows is None:
            return super().init_codebooks(x, gen)
        r = self.model.encoder(self._init_rows)
        for book in self.model.codebooks:
            centres = minibatch_kmeans(r, book.shape[0], steps=KMEANS_INIT_STEPS, batch_size=len(r), gen=self._aux_gen)
            book.copy_(centres)
            r = r - centres[nearest(r, centres)[0]]
        self._init_rows = None

    def _regroup(self) -> None:
        """Cluster every level's code vectors into ``div_groups`` balanced groups."""
        cfg = self.config
        groups = max(1, min(cfg.div_groups, cfg.codebook_size // 2))
        self._groups = [
            code_groups(balanced_groups(book, groups, self._aux_gen), self.device) for book in self.model.codebooks
        ]

    def extra_losses(self, x: torch.Tensor, out: RQVAEOutput, items: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.config
        terms: dict[str, torch.Tensor] = {}
        self._step += 1
        if cfg.cf_weight > 0:
            h = self._cf[items]
            if self.model.cf_proj is not None:
                h = self.model.cf_proj(h)
            loss = contrastive_loss(out.z_q, h, cfg.cf_temperature, cfg.similarity)
            terms["cf"] = cfg.cf_weight * loss
        if cfg.div_weight > 0:
            if self._groups is None or (self._step - 1) % self._epoch_steps == 0:
                self._regroup()
            per_level = []
            for level, book in enumerate(self.model.codebooks):
                codes = out.codes[:, level]
                positives = sample_positives(codes, self._groups[level], self._aux_gen)
                per_level.append(diversity_loss(out.selected[:, level], book, codes, positives))
            terms["div"] = cfg.div_weight * torch.stack(per_level).mean()
        return terms

    def losses(self, x: torch.Tensor, out: RQVAEOutput, items: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.config.level_reduction == "sum":
            return super().losses(x, out, items)
        cfg = self.config
        terms = rqvae_loss(x, out, cfg.beta)
        levels = out.codes.shape[1]
        terms["codebook"] = terms["codebook"] / levels
        terms["commitment"] = terms["commitment"] / levels
        terms["total"] = terms["recon"] + terms["codebook"] + cfg.beta * terms["commitment"]
        for key, value in self.extra_losses(x, out, items).items():
            terms[key] = value
            terms["total"] = terms["total"] + value
        return terms

    # -- assignment ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _last_residuals(self, values: np.ndarray, items: np.ndarray, codes: np.ndarray) -> torch.Tensor:
        """``r_{L-1}`` of ``items``: the latent minus its first ``L − 1`` selected codes."""
        books = self.model.codebooks
        out = []
        for s in range(0, len(items), self.assign_rows):
            rows = items[s : s + self.assign_rows]
            r = self.model.encoder(self.transform(torch.from_numpy(values[rows]).to(self.device)))
            prefix = torch.from_numpy(codes[rows, :-1]).to(self.device)
            for level in range(prefix.shape[1]):
                r = r - books[level][prefix[:, level]]
            out.append(r)
        return torch.cat(out) if out else torch.zeros(0, books.shape[-1], device=self.device)

    @torch.no_grad()
    def _rebalance_round(self, values: np.ndarray, codes: np.ndarray, done: set[tuple[int, ...]]) -> np.ndarray | None:
        """One collision round: new last-level codes for every colliding group (Sinkhorn
        within the group), or ``None`` when nothing is left to try. ``done`` holds the
        groups already re-assigned in earlier rounds: the assignment is deterministic, so a
        group that collides again with the same members (identical items, say) would only
        get the codes it got then, and is not tried again (this also stops cycles)."""
        _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        colliding = np.flatnonzero(counts[inverse] > 1)
        order = np.lexsort((colliding, inverse[colliding]))  # group by group, item order inside
        members = colliding[order]
        group_of = inverse[members]
        starts = np.flatnonzero(np.r_[True, group_of[1:] != group_of[:-1]]) if len(members) else members
        sizes = np.diff(np.r_[starts, len(members)])
        fresh = []
        for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
            key = tuple(members[start : start + size].tolist())
            if key not in done:
                done.add(key)
                fresh.append(start)
        if not fresh:
            return None
        keep = np.isin(starts, fresh)
        starts, sizes = starts[keep], sizes[keep]
        rows = np.concatenate([np.arange(a, a + b) for a, b in zip(starts.tolist(), sizes.tolist(), strict=True)])
        residuals = torch.zeros(len(members), self.model.codebooks.shape[-1], device=self.device)
        residuals[torch.from_numpy(rows).to(self.device)] = self._last_residuals(values, members[rows], codes)
        book = self.model.codebooks[-1]
        cfg = self.config
        new = codes.copy()
        for size in np.unique(sizes):
            first = starts[sizes == size]
            per_chunk = max(1, SINKHORN_BUDGET // int(size * book.shape[0]))
            for c in range(0, len(first), per_chunk):
                pos = first[c : c + per_chunk, None] + np.arange(size)  # [G, size] into members
                r = residuals[torch.from_numpy(pos).to(residuals.device)]
                idx = balanced_codes(r, book, cfg.sinkhorn_epsilon, cfg.sinkhorn_iters)
                new[members[pos], -1] = idx.cpu().numpy()
        return new

    @torch.no_grad()
    def resolved_codes(self, embeddings: ItemEmbeddings) -> np.ndarray:
        """Argmin codes after up to ``collision_rounds`` Sinkhorn re-assignments of the last
        level of colliding items (the round with the fewest collisions is kept)."""
        codes = self.codes(embeddings)
        if self.config.collision_rounds == 0 or len(codes) < 2:
            return codes
        values = self._check_input(embeddings)
        best, best_count = codes, collision_count(codes)
        done: set[tuple[int, ...]] = set()
        for _ in range(self.config.collision_rounds):
            if best_count == 0:
                break
            new = self._rebalance_round(values, codes, done)
            if new is None:
                break
            codes = new
            count = collision_count(codes)
            if count < best_count:
                best, best_count = codes, count
        return best

    def assign(self, embeddings: ItemEmbeddings) -> SIDTable:
        return deduplicate(self.resolved_codes(embeddings), self.config.codebook_size, self.config.dedup, self.config.dedup_size)

    # -- state -------------------------------------------------------------------------------------------
    def _structure(self) -> dict[str, Any]:
        return {**super()._structure(), "input": self.config.input}

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = super().state()
        return arrays, {**meta, "cf_dim": self.cf_dim}

    def state_shapes(self, meta):
        shapes = super().state_shapes(meta)
        if int(meta["cf_dim"]):
            shapes["model.cf_proj.weight"] = (meta["latent_dim"], int(meta["cf_dim"]))
        return shapes

    def set_state(self, arrays, meta) -> None:
        self.cf_dim = int(meta["cf_dim"])
        super().set_state(arrays, meta)
