"""The data model: an item catalog and time-ordered interactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

__all__ = ["Catalog", "Interactions", "Dataset", "TIES"]

TIES = ("keep", "shuffle", "item-id")


@attrs.frozen(eq=False)
class Catalog:
    """Items, indexed ``0..n-1``. ``item_ids[i]`` is the external id (as in the source file);
    ``fields[i]`` holds the item's text fields (title, brand, categories, ...), HTML-decoded."""

    item_ids: Sequence[str]
    fields: Sequence[Mapping[str, Any]]

    def __attrs_post_init__(self) -> None:
        if len(self.item_ids) != len(self.fields):
            raise ValueError("catalog item_ids and fields must have the same length")

    def __len__(self) -> int:
        return len(self.item_ids)

    def index(self) -> dict[str, int]:
        """External item id -> item index."""
        return {item_id: i for i, item_id in enumerate(self.item_ids)}

    def title(self, i: int) -> str | None:
        t = self.fields[i].get("title")
        return str(t) if t else None

    def has_text(self) -> np.ndarray:
        """Boolean mask: items with at least one non-empty text field."""
        return np.array([any(bool(v) for v in f.values()) for f in self.fields], dtype=bool)


@attrs.frozen(eq=False)
class Interactions:
    """Interactions sorted by user, then time (ties ordered by the dataset's ``ties`` policy).

    ``user``/``item`` are dense indices, ``timestamp`` integer seconds (or any monotone
    integer clock). ``user_ids[u]`` is the external id of user index ``u``.
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    user_ids: Sequence[str]

    def __attrs_post_init__(self) -> None:
        if not (len(self.user) == len(self.item) == len(self.timestamp)):
            raise ValueError("interaction arrays must have the same length")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def user_offsets(self) -> np.ndarray:
        """``offsets`` such that user ``u``'s interactions are rows ``offsets[u]:offsets[u+1]``."""
        counts = np.bincount(self.user, minlength=self.n_users)
        offsets = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return offsets


@attrs.frozen(eq=False)
class Dataset:
    """A loaded dataset: catalog + interactions + provenance (format, paths, ties policy).

    ``user_rank[u]``: the position of user ``u`` when users are listed in order of first
    appearance in the source file (``None`` when there is no file, e.g. synthetic data).
    Baselines that break ties by what is read first use it to read the data as a script
    iterating over the file would.
    """

    catalog: Catalog
    interactions: Interactions
    name: str = "dataset"
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    user_rank: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return len(self.catalog)

    @property
    def n_users(self) -> int:
        return self.interactions.n_users
