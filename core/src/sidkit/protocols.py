"""The six protocols every pipeline stage implements.

A component is any object with these methods; nothing has to inherit from anything.
All protocols are ``runtime_checkable`` so the runner can check a built component
before using it. State is saved to and loaded from a directory with the helpers in
:mod:`sidkit.artifacts` (safetensors + JSON, never pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .context import Context
from .types import EvalSet, ItemEmbeddings, Ragged, Rankings, SIDTable

__all__ = [
    "Encoder",
    "Tokenizer",
    "SIDUpdater",
    "TokenizerAdapter",
    "Generator",
    "Decoder",
    "Evaluator",
    "Stateful",
    "KINDS",
    "PROTOCOLS",
]


@runtime_checkable
class Stateful(Protocol):
    """Something whose learned state can be written to / read from a directory."""

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


@runtime_checkable
class Encoder(Protocol):
    """Items (+ interactions) -> item embeddings ``[n_items, d]``.

    Content encoders read ``ctx.dataset.catalog``; collaborative encoders (SASRec) train on
    ``ctx.split.train``. The result is aligned with the catalog's item indices.
    """

    def encode(self, ctx: Context) -> ItemEmbeddings: ...


@runtime_checkable
class Tokenizer(Stateful, Protocol):
    """Item embeddings -> Semantic IDs.

    ``fit`` learns codebooks, ``assign`` maps embeddings to codes (and resolves collisions
    as configured). A tokenizer that is also a ``torch.nn.Module`` can be trained further
    inside a generator's graph (``ctx.tokenizer``; DIGER).
    """

    def fit(self, embeddings: ItemEmbeddings, ctx: Context) -> None: ...

    def assign(self, embeddings: ItemEmbeddings) -> SIDTable: ...


@runtime_checkable
class SIDUpdater(Protocol):
    """Refresh SIDs over time without breaking a trained generator.

    ``previous`` is the SID table the checkpoint was trained on, ``refreshed`` a table
    from a re-fitted tokenizer (``ctx.tokenizer``, ``ctx.previous_tokenizer``,
    ``ctx.split`` carry the rest). Returns the table to continue with, in a vocabulary the
    checkpoint understands, and a small JSON-able report (e.g. collisions resolved).
    """

    def update(
        self, previous: SIDTable, refreshed: SIDTable, ctx: Context
    ) -> tuple[SIDTable, dict[str, Any]]: ...


@runtime_checkable
class TokenizerAdapter(Protocol):
    """An optional capability of a ``sid-updater``: adapt the previous tokenizer itself to
    refreshed embeddings (DACT, fine-tuning baselines) instead of reconciling two tables.

    ``previous_tokenizer`` is the runner's copy to adapt (it may be changed in place or
    replaced), ``previous_sids`` the table it assigned, ``embeddings`` the refreshed
    embeddings of every item now covered (``ctx.extras["items"]``: their item indices;
    ``ctx.extras["previous_items"]``: the previous table's), ``ctx.split`` the step's data.
    Returns the tokenizer to carry forward, the table to continue with (one row per
    embedding row) and a small JSON-able report.
    """

    def adapt(
        self, previous_tokenizer: Any, previous_sids: SIDTable, embeddings: ItemEmbeddings, ctx: Context
    ) -> tuple[Any, SIDTable, dict[str, Any]]: ...


@runtime_checkable
class Generator(Stateful, Protocol):
    """A trainable sequence model over SIDs.

    ``fit`` trains on ``ctx.split.train`` with the given SIDs. It returns ``None``, or the
    SID table it ended with when training re-assigns SIDs (joint tokenizer training). How
    the model consumes an item (flattened ``L`` tokens, one vector per item, ...) is the
    generator's business; the matching decoder knows how to query it.
    """

    def fit(self, sids: SIDTable, ctx: Context) -> SIDTable | None: ...


@runtime_checkable
class Decoder(Protocol):
    """A trained generator + item histories -> top-``k`` items per history.

    ``histories`` are item indices (oldest first). The decoder maps generated SIDs back to
    items through ``sids`` (several items may share a SID).
    """

    def rank(
        self, generator: Generator, sids: SIDTable, histories: Ragged, k: int, ctx: Context
    ) -> Rankings: ...


@runtime_checkable
class Evaluator(Protocol):
    """Rankings + the examples they answer -> flat metrics ``{"recall@10": ...}``.

    ``required_k`` is the ranking depth the evaluator needs (the largest cutoff).
    """

    required_k: int

    def evaluate(self, rankings: Rankings, examples: EvalSet, ctx: Context) -> dict[str, float]: ...


PROTOCOLS: dict[str, type] = {
    "encoder": Encoder,
    "tokenizer": Tokenizer,
    "sid-updater": SIDUpdater,
    "generator": Generator,
    "decoder": Decoder,
    "evaluator": Evaluator,
}
KINDS: tuple[str, ...] = tuple(PROTOCOLS)
