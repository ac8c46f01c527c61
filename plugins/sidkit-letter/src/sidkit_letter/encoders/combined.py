"""Encoder ``content+collab``: a content encoder and a collaborative encoder side by side."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
from sidkit.errors import SidkitError
from sidkit.types import ItemEmbeddings

from ..configs.encoders import COMBINED_NAME, ContentCollabConfig

__all__ = ["ContentCollabEncoder", "ROLES", "l2_normalize"]

ROLES = ("content", "collaborative")


def l2_normalize(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


class ContentCollabEncoder:
    """Runs the ``content`` and the ``collaborative`` encoder of its config on the same
    context (each in its own sub-folder ``content/`` resp. ``collaborative/`` of
    ``ctx.workdir``) and returns both matrices as ``views`` plus the one ``output`` names as
    ``values``. After :meth:`encode`, ``encoders`` holds the two built encoders.

    Warm start (continual refreshes): with a previous ``content+collab`` encoder as
    ``ctx.encoder``, each sub-encoder gets its previous counterpart as ``ctx.encoder``.
    ``history`` is the collaborative encoder's training history (what a refresh's epoch
    budget is read from); ``save``/``load`` keep the sub-encoders that have state."""

    def __init__(self, config: ContentCollabConfig | None = None):
        self.config = config or ContentCollabConfig()
        self.encoders: dict[str, object] = {}

    @property
    def history(self) -> list:
        return list(getattr(self.encoders.get("collaborative"), "history", None) or [])

    def _built(self, role: str):
        if role not in self.encoders:
            self.encoders[role] = getattr(self.config, role).build()
        return self.encoders[role]

    def save(self, path: Path) -> None:
        """Each sub-encoder with ``save`` in ``path/<role>/``."""
        for role in ROLES:
            encoder = self.encoders.get(role)
            if encoder is not None and hasattr(encoder, "save") and hasattr(encoder, "load"):
                (Path(path) / role).mkdir(parents=True, exist_ok=True)
                encoder.save(Path(path) / role)

    def load(self, path: Path) -> None:
        """What :meth:`save` wrote (sub-encoders without a folder stay unfitted)."""
        for role in ROLES:
            folder = Path(path) / role
            if folder.is_dir():
                self._built(role).load(folder)

    def encode(self, ctx) -> ItemEmbeddings:
        if ctx is None:
            raise SidkitError(f"encoder {COMBINED_NAME} needs a context (its encoders read ctx.dataset / ctx.split)")
        dataset = ctx.dataset
        n_items = dataset.n_items if dataset is not None else None
        parts: dict[str, np.ndarray] = {}
        previous = ctx.encoder.encoders if isinstance(ctx.encoder, ContentCollabEncoder) else {}
        for role in ROLES:
            choice = getattr(self.config, role)
            encoder = choice.build()
            self.encoders[role] = encoder
            out = encoder.encode(attrs.evolve(ctx, workdir=ctx.child(role), encoder=previous.get(role)))
            if not isinstance(out, ItemEmbeddings):
                raise SidkitError(
                    f"encoder {COMBINED_NAME}: {role} encoder {choice.name!r} returned {type(out).__name__}"
                )
            if n_items is not None and out.n_items != n_items:
                raise SidkitError(
                    f"encoder {COMBINED_NAME}: {role} encoder {choice.name!r} returned {out.n_items} rows "
                    f"for {n_items} catalog items"
                )
            parts[role] = np.ascontiguousarray(out.values, dtype=np.float32)
        content, collaborative = parts["content"], parts["collaborative"]
        if len(content) != len(collaborative):
            raise SidkitError(
                f"encoder {COMBINED_NAME}: content encoder {self.config.content.name!r} gave {len(content)} rows, "
                f"collaborative encoder {self.config.collaborative.name!r} {len(collaborative)}: they must cover "
                "the same items"
            )
        if self.config.output == "concat":
            values = np.hstack([l2_normalize(content), l2_normalize(collaborative)])
        else:
            values = parts[self.config.output]
        return ItemEmbeddings(values, views={"content": content, "collaborative": collaborative})
