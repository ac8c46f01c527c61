"""The sid-updaters of sidkit-dact, all :class:`sidkit.protocols.TokenizerAdapter`\\ s:
``dact`` and the baselines ``tok-frozen``, ``tok-finetune`` and ``reformer``.

Each adapts a copy of the tokenizer it is given (the input is never changed), assigns
codes to every current item and decides which old items keep their entire old SID:
none (``tok-finetune``), all (``tok-frozen``, ``reformer``) or those whose layer-1 code
did not change (``dact``). :func:`~.reassign.strict_sids` gives everyone else a SID that
collides with no kept one. Rows follow ``ctx.extras["items"]`` (current items) and
``ctx.extras["previous_items"]`` (the previous table's; default: row ``i`` is item ``i``).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import attrs
import numpy as np
import torch
import torch.nn.functional as F
from sidkit.errors import SidkitError
from sidkit.types import ItemEmbeddings, SIDTable
from sidkit_letter.api import collision_count

from .configs import DactUpdaterConfig, FinetuneConfig, FrozenConfig, ReformerConfig
from .reassign import change_rates, strict_sids
from .update import DriftAwareFinetune

__all__ = [
    "DactAdapter", "FrozenAdapter", "FinetuneAdapter", "ReformerAdapter", "Layout", "cf_cosine", "planted_change_rates",
]


@attrs.frozen(eq=False)
class Layout:
    """Where the previous table's rows are among the current items: ``old_row[i]`` (-1 for
    a new item), the previous SID of every current row (zeros for new ones), the size of
    the de-dup level (``None``: the tokenizer has none) and the dataset index of every
    current row (``items``)."""

    old_row: np.ndarray
    old_sids: np.ndarray
    digit_size: int | None
    items: np.ndarray

    @property
    def is_old(self) -> np.ndarray:
        return self.old_row >= 0

    @classmethod
    def of(cls, tokenizer: Any, previous: SIDTable, embeddings: ItemEmbeddings, ctx: Any, who: str) -> Layout:
        n = embeddings.n_items
        extras = getattr(ctx, "extras", None) or {}
        items = np.asarray(extras.get("items", np.arange(n)), dtype=np.int64)
        prev_items = np.asarray(extras.get("previous_items", np.arange(previous.n_items)), dtype=np.int64)
        if len(items) != n:
            raise SidkitError(f"{who}: ctx.extras['items'] lists {len(items)} items for {n} embedding rows")
        if len(prev_items) != previous.n_items:
            raise SidkitError(
                f"{who}: ctx.extras['previous_items'] lists {len(prev_items)} items for a previous table of {previous.n_items} rows"
            )
        cfg = tokenizer.config
        digit = cfg.dedup == "digit"
        if previous.n_levels != cfg.levels + digit or any(s != cfg.codebook_size for s in previous.codebook_sizes[: cfg.levels]):
            raise SidkitError(
                f"{who}: the previous SIDs (codebook sizes {list(previous.codebook_sizes)}) were not made by this tokenizer "
                f"({cfg.levels} levels of {cfg.codebook_size}{' + the de-dup digit' if digit else ''})"
            )
        order = np.argsort(prev_items, kind="stable")
        old_row = np.full(n, -1, dtype=np.int64)
        if len(order):
            sorted_items = prev_items[order]
            pos = np.clip(np.searchsorted(sorted_items, items), 0, len(order) - 1)
            found = sorted_items[pos] == items
            old_row[found] = order[pos[found]]
        found = old_row >= 0
        old_sids = np.zeros((n, previous.n_levels), dtype=np.int64)
        old_sids[found] = previous.codes[old_row[found]]
        return cls(old_row, old_sids, previous.codebook_sizes[-1] if digit else None, items)


def planted_change_rates(layout: Layout, codes: np.ndarray, ctx: Any) -> dict[str, float | None]:
    """Layer-1 change rate of the old items the data planted as moved and of the other old
    items (``ctx.dataset.meta["moved_items"]``, dataset indices, as the synthetic loader's
    ``item_drift`` records them); empty when the data plants no drift."""
    meta = getattr(getattr(ctx, "dataset", None), "meta", None) or {}
    if "moved_items" not in meta:
        return {}
    moved = np.isin(layout.items, np.asarray(meta["moved_items"], dtype=np.int64))
    changed = layout.old_sids[:, 0] != codes[:, 0]
    out: dict[str, float | None] = {}
    for name, rows in (("moved", layout.is_old & moved), ("unmoved", layout.is_old & ~moved)):
        out[f"layer1_change_{name}"] = round(float(changed[rows].mean()), 6) if rows.any() else None
    return out


@torch.no_grad()
def cf_cosine(tokenizer: Any, codes: np.ndarray, embeddings: ItemEmbeddings) -> float | None:
    """Mean cosine between each item's quantised latent (the sum of the code vectors of its
    SID's semantic levels) and its collaborative vector (through ``cf_proj`` when the
    tokenizer has one); ``None`` without a collaborative view of the latent's width."""
    model = getattr(tokenizer, "model", None)
    if model is None or "collaborative" not in embeddings.views or len(codes) == 0:
        return None
    books = model.codebooks.detach()
    h = torch.as_tensor(np.asarray(embeddings.views["collaborative"], dtype=np.float32), device=books.device)
    proj = getattr(model, "cf_proj", None)
    if proj is not None:
        h = proj(h)
    if h.shape[1] != books.shape[-1]:
        return None
    idx = torch.as_tensor(codes[:, : books.shape[0]], device=books.device)
    z_q = sum(books[level][idx[:, level]] for level in range(books.shape[0]))
    return round(float(F.cosine_similarity(z_q, h, dim=-1).mean()), 6)


class _TokenizerAdapter:
    """Copy the tokenizer, :meth:`train` it, re-assign with :meth:`keep` and report."""

    name = "adapter"

    def __init__(self, config: Any = None):
        self.config = config

    @property
    def who(self) -> str:
        return f"sid-updater {self.name}"

    def train(self, tokenizer: Any, embeddings: ItemEmbeddings, ctx: Any) -> dict[str, Any]:
        """Adapt ``tokenizer`` (a private copy) in place; returns report entries."""
        return {}

    def keep(self, layout: Layout, new_codes: np.ndarray) -> np.ndarray:
        """Rows that keep their entire old SID."""
        raise NotImplementedError

    def adapt(
        self, previous_tokenizer: Any, previous_sids: SIDTable, embeddings: ItemEmbeddings, ctx: Any = None
    ) -> tuple[Any, SIDTable, dict[str, Any]]:
        started = time.perf_counter()
        if not hasattr(previous_tokenizer, "codes") or not getattr(previous_tokenizer, "fitted", False):
            raise SidkitError(f"{self.who} needs a fitted grid tokenizer (rqvae, letter, dact); got {type(previous_tokenizer).__name__}")
        tokenizer = copy.deepcopy(previous_tokenizer)
        layout = Layout.of(tokenizer, previous_sids, embeddings, ctx, self.who)
        trained = self.train(tokenizer, embeddings, ctx)
        new_codes = tokenizer.codes(embeddings)
        keep = self.keep(layout, new_codes) & layout.is_old
        codes, repaired = strict_sids(new_codes, layout.old_sids, keep, layout.digit_size, self.who)
        table = SIDTable(codes, previous_sids.codebook_sizes)
        old = layout.is_old
        rates = change_rates(layout.old_sids[old], codes[old])
        report = {
            "updater": self.name,
            "rows": "refreshed",
            "n_items": int(len(codes)),
            "n_old_items": int(old.sum()),
            "n_new_items": int((~old).sum()),
            "n_kept": int(keep.sum()),
            **rates,
            "layer1_change_rate": rates["change_rate_per_layer"][0] if old.any() else 0.0,
            **planted_change_rates(layout, codes, ctx),
            **repaired,
            "collisions": collision_count(codes),
            "cf_cosine": cf_cosine(tokenizer, codes, embeddings),
            **trained,
            "seconds": round(time.perf_counter() - started, 3),
        }
        return tokenizer, table, report

    def update(self, previous: SIDTable, refreshed: SIDTable, ctx: Any = None):
        raise SidkitError(
            f"{self.who} adapts the tokenizer itself (a TokenizerAdapter: adapt(previous_tokenizer, previous_sids, "
            "embeddings, ctx)); it has no table-to-table update. Use it with `sidkit continual`"
        )


def _finetune(tokenizer: Any, embeddings: ItemEmbeddings, ctx: Any, steps: int, lr: float | None, who: str) -> dict[str, Any]:
    if not hasattr(tokenizer, "finetune"):
        raise SidkitError(f"{who} fine-tunes an RQ-VAE tokenizer (rqvae, letter, dact); got {getattr(tokenizer, 'name', type(tokenizer).__name__)!r}")
    tokenizer.finetune(embeddings, ctx, steps, lr=lr)
    history = tokenizer.history
    return {"steps": steps, "loss_first": history[0]["total"] if history else None, "loss_last": history[-1]["total"] if history else None}


class FrozenAdapter(_TokenizerAdapter):
    """``tok-frozen``: the tokenizer unchanged; old items keep their SIDs, the old tokenizer
    assigns new items."""

    name = "tok-frozen"

    def __init__(self, config: FrozenConfig | None = None):
        super().__init__(config or FrozenConfig())

    def keep(self, layout: Layout, new_codes: np.ndarray) -> np.ndarray:
        return layout.is_old


class FinetuneAdapter(_TokenizerAdapter):
    """``tok-finetune`` (naive): the tokenizer's own loss, fine-tuned from its weights; every
    item re-assigned."""

    name = "tok-finetune"

    def __init__(self, config: FinetuneConfig | None = None):
        super().__init__(config or FinetuneConfig())

    def train(self, tokenizer, embeddings, ctx):
        return _finetune(tokenizer, embeddings, ctx, self.config.steps, self.config.lr, self.who)

    def keep(self, layout: Layout, new_codes: np.ndarray) -> np.ndarray:
        return np.zeros(len(new_codes), dtype=bool)


class ReformerAdapter(FinetuneAdapter):
    """``reformer``: fine-tuned like ``tok-finetune``, but only new items take the fine-tuned
    codes; old items keep their SIDs."""

    name = "reformer"

    def __init__(self, config: ReformerConfig | None = None):
        _TokenizerAdapter.__init__(self, config or ReformerConfig())

    def keep(self, layout: Layout, new_codes: np.ndarray) -> np.ndarray:
        return layout.is_old


class DactAdapter(_TokenizerAdapter):
    """``dact``: drift-aware fine-tuning (:class:`~.update.DriftAwareFinetune`), then
    relaxed-to-strict re-assignment: an old item whose new layer-1 code equals its old one
    keeps its entire old SID."""

    name = "dact"

    def __init__(self, config: DactUpdaterConfig | None = None):
        super().__init__(config or DactUpdaterConfig())

    def train(self, tokenizer, embeddings, ctx):
        update = DriftAwareFinetune(tokenizer, embeddings, self.config, ctx)
        history = update.run()
        c = update.confidence()
        return {
            "steps": self.config.steps,
            "loss_first": history[0]["total"] if history else None,
            "loss_last": history[-1]["total"] if history else None,
            "kl_last": history[-1].get("kl") if history else None,
            "confidence_mean": round(float(c.mean()), 6) if len(c) else None,
            "confidence_top_rho_mean": round(float(np.sort(c)[::-1][: max(1, int(self.config.rho * len(c)))].mean()), 6) if len(c) else None,
        }

    def keep(self, layout: Layout, new_codes: np.ndarray) -> np.ndarray:
        return layout.is_old & (new_codes[:, 0] == layout.old_sids[:, 0])
