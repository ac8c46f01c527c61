"""Parquet interaction files (``format = "delimited"`` with a ``.parquet`` path), read with
pyarrow, the optional extra ``sidkit[parquet]``.

The wanted columns are read one record batch at a time (:data:`BATCH_ROWS` rows) into the
same arrays as the delimited reader (:class:`~sidkit.data.loaders.columns.Columns`): string
or binary ids become fixed-width bytes arrays straight from Arrow's offsets and data
buffers, integer ids their decimal text; timestamps may be integers, floats or Arrow
timestamps (taken as whole seconds). Errors name the file and the 1-based *row* (given as
the line, as every loader error does)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from .columns import Columns, byte_strings

__all__ = ["BATCH_ROWS", "PARQUET_SUFFIXES", "is_parquet", "read_parquet_columns", "require_pyarrow"]

BATCH_ROWS = 1 << 20
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def require_pyarrow(path: Path) -> Any:
    """``pyarrow.parquet``, or a DataError saying how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            "reading Parquet needs pyarrow, which is not installed: pip install 'sidkit[parquet]' (or pip install pyarrow)",
            path=path,
        ) from None
    return pq


def _ids(column: Any, name: str, path: Path, first_row: int) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    _no_nulls(column, name, path, first_row)
    kind = column.type
    if pa.types.is_integer(kind):
        return column.to_numpy().astype(np.int64)  # str(int): canonical integer ids
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)):  # fmt: skip
        raise DataError(f"column {name!r} has type {kind}; ids must be strings or integers", path=path)
    column = pc.cast(column, pa.large_binary())
    offsets_buf, data_buf = column.buffers()[1], column.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    return byte_strings(data, offsets[:-1], offsets[1:])


def _no_nulls(column: Any, name: str, path: Path, first_row: int) -> None:
    if column.null_count:
        row = first_row + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{name} is missing (null) in row {row}", path=path, line=row)


def _numbers(column: Any, name: str, path: Path, first_row: int, lines: np.ndarray, time: bool) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    _no_nulls(column, name, path, first_row)
    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.cast(pc.cast(column, pa.timestamp("s"), safe=False), pa.int64()).to_numpy()
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.int64)
    if not pa.types.is_floating(kind) and not pa.types.is_decimal(kind):
        raise DataError(f"column {name!r} has type {kind}; expected numbers", path=path)
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{name} {str(values[i])!r} is not a number (row {int(lines[i])})", path=path, line=int(lines[i])
        )
    if time:
        out = np.flatnonzero((values < -(2.0**63)) | (values >= 2.0**63))
        if len(out):
            i = int(out[0])
            raise DataError(
                f"{name} {values[i]!r} is out of the int64 range of timestamps", path=path, line=int(lines[i])
            )
    return values


def read_parquet_columns(
    path: Path, *, ids: Mapping[str, str], numbers: Mapping[str, str], batch_rows: int | None = None
) -> Columns:
    """The columns ``ids`` (role -> column name) as bytes arrays and ``numbers`` (role ->
    column name; role ``"time"``: timestamps) of a Parquet file, batch by batch."""
    pq = require_pyarrow(path)
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"not a readable Parquet file ({exc})", path=path) from None
    have = file.schema_arrow.names
    for name in (*ids.values(), *numbers.values()):
        if name not in have:
            raise DataError(f"missing column {name!r}; the file has: {', '.join(have)}", path=path)
    wanted = list(dict.fromkeys((*ids.values(), *numbers.values())))
    id_parts: dict[str, list[np.ndarray]] = {k: [] for k in ids}
    num_parts: dict[str, list[np.ndarray]] = {k: [] for k in numbers}
    line_parts, row = [], 1
    for batch in file.iter_batches(batch_size=batch_rows or BATCH_ROWS, columns=wanted):
        lines = np.arange(row, row + batch.num_rows, dtype=np.int64)
        for role, name in numbers.items():
            column = batch.column(wanted.index(name))
            num_parts[role].append(_numbers(column, name, path, row, lines, role == "time"))
        for role, name in ids.items():
            id_parts[role].append(_ids(batch.column(wanted.index(name)), name, path, row))
        line_parts.append(lines)
        row += batch.num_rows
    if row == 1:
        raise DataError("no rows", path=path)
    return Columns(
        None,
        {k: np.concatenate(v) for k, v in id_parts.items()},
        {k: np.concatenate(v) for k, v in num_parts.items()},
        np.concatenate(line_parts),
        "utf-8",
    )
