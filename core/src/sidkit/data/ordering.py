"""Chronological order of interactions, and the policies for equal timestamps."""

from __future__ import annotations

import numpy as np

from .model import TIES

__all__ = ["order_interactions"]


def order_interactions(
    user: np.ndarray,
    timestamp: np.ndarray,
    ties: str = "keep",
    *,
    item_rank: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The permutation that sorts rows by (user, timestamp).

    Rows of one user with equal timestamps are ordered by ``ties``: ``keep`` keeps their
    input order, ``shuffle`` orders them at random (the same for the same ``seed`` and
    input), ``item-id`` by ``item_rank`` (the rank of the external item id), then input order.
    """
    n = len(user)
    keys: list[np.ndarray] = [np.arange(n)]
    if ties == "shuffle":
        keys.append(np.random.default_rng(seed).permutation(n))
    elif ties == "item-id":
        if item_rank is None:
            raise ValueError("ties='item-id' needs item_rank")
        keys.append(np.asarray(item_rank))
    elif ties != "keep":
        raise ValueError(f"ties must be one of {', '.join(map(repr, TIES))}, got {ties!r}")
    keys += [np.asarray(timestamp), np.asarray(user)]
    return np.lexsort(keys)
