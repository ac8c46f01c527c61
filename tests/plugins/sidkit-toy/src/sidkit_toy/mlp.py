"""Generator ``toy-mlp``: a small torch model predicting each SID level of the next item."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import torch
from sidkit.artifacts import read_json, write_json
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training.checkpoint import load_weights, save_weights
from sidkit.types import Ragged, SIDTable
from torch import nn

from .configs import ToyMLPConfig

WEIGHTS, META = "model.safetensors", "meta.json"
_ARCH = attrs.filters.include("dim", "hidden", "max_len")  # config fields that shape the weights


def windows(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, max_len: int) -> np.ndarray:
    """``values[max(start, end - max_len):end]`` for each (start, end), left-padded with -1 to
    ``[len(ends), max_len]`` (vectorised: no loop over users)."""
    idx = ends[:, None] - max_len + np.arange(max_len)[None, :]
    if len(values) == 0:
        return np.full(idx.shape, -1, dtype=np.int64)
    return np.where(idx >= starts[:, None], values[np.clip(idx, 0, len(values) - 1)], -1)


def training_examples(train: Ragged, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (history window, next item) pair of the training sequences."""
    pos = np.arange(len(train.values))
    starts = np.repeat(train.offsets[:-1], train.lengths)
    keep = pos > starts
    return windows(train.values, starts[keep], pos[keep], max_len), train.values[keep]


class ToyMLPNet(nn.Module):
    """Items are sums of their SID-code embeddings; a history is their position-weighted mean
    (learned weights, recency-biased at init) -> residual MLP -> one linear head per SID level."""

    def __init__(self, codes: torch.Tensor, sizes: list[int], dim: int, hidden: int, max_len: int, dropout: float):
        super().__init__()
        self.register_buffer("codes", codes.long())
        self.register_buffer("offsets", torch.tensor([0, *np.cumsum(sizes)[:-1]], dtype=torch.long))
        self.code_emb = nn.Embedding(int(sum(sizes)), dim)
        # log-weight of each history position, initialised to favour recent items (-distance from the end)
        self.position = nn.Parameter(-torch.arange(max_len - 1, -1, -1, dtype=torch.float))
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.heads = nn.ModuleList(nn.Linear(dim, s) for s in sizes)

    def forward(self, history: torch.Tensor) -> list[torch.Tensor]:
        """``history [B, max_len]`` item indices (-1 pads) -> one ``[B, size_l]`` logit tensor per level."""
        mask = history >= 0
        items = self.code_emb(self.codes[history.clamp(min=0)] + self.offsets).sum(2)  # [B, T, D]
        weight = torch.exp(self.position) * mask
        pooled = (weight.unsqueeze(-1) * items).sum(1) / weight.sum(1, keepdim=True).clamp_min(1e-9)
        hidden = pooled + self.mlp(pooled)
        return [head(hidden) for head in self.heads]


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over SID levels of the cross-entropy of the next item's code (calls only ``model(...)``, DDP-safe)."""
    logits = model(batch["history"])
    return sum(nn.functional.cross_entropy(lg, batch["codes"][:, lev]) for lev, lg in enumerate(logits))


class ToyMLPGenerator:
    """Trains :class:`ToyMLPNet` with :func:`sidkit.training.fit`; scores items for the decoder."""

    def __init__(self, config: ToyMLPConfig):
        self.config = config
        self.net: ToyMLPNet | None = None
        self.shape: dict = {}  # n_items, codebook_sizes, dim, hidden, max_len: all load() needs

    def _build(self, n_items: int, sizes) -> ToyMLPNet:
        c = self.config
        self.shape = {"n_items": n_items, "codebook_sizes": list(sizes), **attrs.asdict(c, filter=_ARCH)}
        codes = torch.zeros((n_items, len(sizes)), dtype=torch.long)
        self.net = ToyMLPNet(codes, list(sizes), c.dim, c.hidden, c.max_len, c.dropout)
        return self.net

    def fit(self, sids: SIDTable, ctx) -> None:
        from sidkit.training import fit

        if ctx is None or ctx.split is None:
            raise SidkitError("generator toy-mlp needs ctx.split (it trains on ctx.split.train)")
        torch.manual_seed(ctx.seed)
        net = self._build(sids.n_items, sids.codebook_sizes)
        net.codes.copy_(torch.as_tensor(sids.codes))
        history, target = training_examples(ctx.split.train, self.config.max_len)
        history, target_codes = torch.as_tensor(history), torch.as_tensor(sids.codes[target])

        def validate(_model) -> float:  # early stopping on the runner's validation metrics
            metrics = ctx.validate(self)
            return metrics.get("recall@10", next(iter(metrics.values()), float("nan")))

        train = self.config.train if ctx.progress else attrs.evolve(self.config.train, progress=False)
        fit(
            net,
            loss_fn=_loss,
            n_examples=len(target),
            make_batch=lambda idx: {"history": history[idx], "codes": target_codes[idx]},
            cfg=train,
            seed=ctx.seed,
            device=ctx.device,
            workdir=ctx.workdir,
            validate=validate if ctx.validate is not None else None,
            fingerprint_extra=self.shape,
        )
        net.eval()

    @torch.no_grad()
    def item_log_probs(self, histories: Ragged, sids: SIDTable) -> torch.Tensor:
        """``[len(histories), n_items]``: sum over levels of log-softmax at each item's code."""
        if self.net is None:
            raise SidkitError("generator toy-mlp: call fit() or load() before scoring")
        if [sids.n_items, list(sids.codebook_sizes)] != [self.shape["n_items"], self.shape["codebook_sizes"]]:
            raise SidkitError(
                f"generator toy-mlp was trained on {self.shape['n_items']} items with codebooks "
                f"{self.shape['codebook_sizes']}; got {sids.n_items} items with {list(sids.codebook_sizes)}"
            )
        device = self.net.codes.device
        codes = torch.as_tensor(sids.codes, device=device)
        if not torch.equal(codes, self.net.codes):
            raise SidkitError("generator toy-mlp was trained on other SIDs (same shape, different codes); refit it")
        history = windows(histories.values, histories.offsets[:-1], histories.offsets[1:], self.config.max_len)
        logits = self.net(torch.as_tensor(history, device=device))
        return sum(lg.log_softmax(-1)[:, codes[:, lev]] for lev, lg in enumerate(logits))

    def save(self, path: Path) -> None:
        if self.net is None:
            raise SidkitError("generator toy-mlp: nothing to save before fit()")
        save_weights(Path(path) / WEIGHTS, self.net)
        write_json(Path(path) / META, self.shape)

    def load(self, path: Path) -> None:
        meta = read_json(Path(path) / META)
        net = self._build(meta["n_items"], meta["codebook_sizes"])
        if meta != self.shape:
            raise ArtifactError(f"{path}: saved with {meta}; the config gives {self.shape}")
        load_weights(Path(path) / WEIGHTS, net)  # checks every tensor's shape
        net.eval()
