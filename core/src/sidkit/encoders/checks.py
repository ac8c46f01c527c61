"""Checks of item embedding matrices, shared by encoders and the pipeline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError

__all__ = ["check_embeddings"]


def _row(i: int, item_ids: Sequence[object] | None) -> str:
    if item_ids is not None and i < len(item_ids):
        return f"row {i} (0-based; item {str(item_ids[i])!r})"
    return f"row {i} (0-based)"


def check_embeddings(values: object, source: object, item_ids: Sequence[object] | None = None) -> np.ndarray:
    """``values`` as a float32 ``[n_items, d]`` matrix of finite numbers, or a DataError
    naming ``source`` (a file, or e.g. ``"encoder 'x'"``) and the first bad row; ``item_ids``
    (row ``i`` = item ``item_ids[i]``) name that row's item."""
    try:
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, reported below
            matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        dtype = getattr(values, "dtype", type(values).__name__)
        raise DataError(f"embeddings are not numbers (dtype {dtype})", path=source) from None
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise DataError(f"expected a non-empty 2-D [n_items, d] matrix, got shape {matrix.shape}", path=source)
    bad = ~np.isfinite(matrix)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        i = int(rows[0])
        j = int(np.argmax(bad[i]))
        raise DataError(
            f"{len(rows)} of {len(matrix)} embedding rows hold NaN or infinity (as float32); the first is"
            f" {_row(i, item_ids)}: {matrix[i, j]} in column {j}",
            path=source,
        )
    return matrix
