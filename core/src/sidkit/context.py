"""What a component gets from the runner besides its own config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .types import ItemEmbeddings, SIDTable, SplitData

__all__ = ["Context"]


@attrs.define(kw_only=True)
class Context:
    """Runtime context handed to every component call.

    Only what a stage may need; every field is optional so a component can be used on its
    own from Python. ``workdir`` is the component's private directory inside the run (for
    checkpoints); ``validate`` scores a generator on the validation split (higher is better,
    Recall@10 by default) and is what early stopping calls.
    """

    seed: int = 0
    device: str = "cpu"
    workdir: Path | None = None
    dataset: Any = None  # sidkit.data.Dataset
    split: SplitData | None = None
    embeddings: ItemEmbeddings | None = None
    tokenizer: Any = None  # the fitted Tokenizer (joint methods train it further)
    previous_tokenizer: Any = None  # continual methods: the tokenizer of the last period
    previous_sids: SIDTable | None = None
    generator: Any = None  # continual methods: the checkpoint being warm-started
    encoder: Any = None  # continual runs: the fitted encoder a refresh warm-starts from
    validate: Callable[[Any], dict[str, float]] | None = None
    progress: bool = True
    extras: dict[str, Any] = attrs.field(factory=dict)

    def child(self, name: str) -> Path | None:
        """A sub-directory of ``workdir`` (created), or ``None`` when there is no workdir."""
        if self.workdir is None:
            return None
        path = Path(self.workdir) / name
        path.mkdir(parents=True, exist_ok=True)
        return path
