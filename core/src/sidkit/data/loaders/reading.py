"""Reading source files: gzip-aware text, records with their line numbers, numeric columns.

Every problem is a :class:`~sidkit.errors.DataError` naming the file, the 1-based line
and the reason.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError

__all__ = [
    "existing_file",
    "open_text",
    "read_records",
    "read_table",
    "check_widths",
    "column_index",
    "parse_numbers",
    "json_lines",
    "require_keys",
    "clean_text",
]


def existing_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path, or a DataError saying why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} not found", path=p)
    if not p.is_file():
        raise DataError(f"{what} is not a file", path=p)
    return p


def open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    """A text stream (gzip-decompressed when the file starts with the gzip magic bytes).
    ``newline=""`` keeps line ends as written, so quoted fields may hold newlines."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _records(stream: io.TextIOBase, sep: str, quoted: bool, path: Path) -> Iterator[tuple[int, list[str]]]:
    if quoted:
        reader = csv.reader(stream, delimiter=sep, quotechar='"', strict=True)
        start = 1
        try:
            for fields in reader:
                if fields:
                    yield start, fields
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(f"malformed CSV record: {exc}", path=path, line=start) from None
        return
    for line_no, line in enumerate(stream, 1):
        line = line.rstrip("\r\n")
        if line:
            yield line_no, line.split(sep)


def read_records(
    path: Path, sep: str, *, quoted: bool = True, encodings: Sequence[str] = ("utf-8",)
) -> tuple[list[list[str]], list[int]]:
    """Non-blank records of a delimited file and the line each starts on.

    ``quoted``: CSV quoting (``"``) so fields may hold the separator or newlines; otherwise
    each line is split on ``sep`` (which may be several characters, e.g. ``::``).
    ``encodings`` are tried in order (``("utf-8", "latin-1")``: UTF-8 with a fallback).
    """
    for n, encoding in enumerate(encodings):
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            with open_text(path, encoding) as stream:
                for line_no, fields in _records(stream, sep, quoted, path):
                    lines.append(line_no)
                    rows.append(fields)
        except UnicodeDecodeError as exc:
            if n + 1 < len(encodings):
                continue
            raise DataError(
                f"not valid {encoding} text ({exc.reason})", path=path, line=_bad_text_line(path, encoding)
            ) from None
        if not rows:
            raise DataError("empty file", path=path, line=1)
        return rows, lines
    raise AssertionError("no encodings given")


def _bad_text_line(path: Path, encoding: str) -> int:
    with open_text(path, encoding) as stream:
        data = stream.buffer.read()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 1


def read_table(path: Path, sep: str) -> tuple[list[str], list[list[str]], list[int]]:
    """``(header, records, lines)`` of a delimited file with a header line; every record
    has as many fields as the header."""
    rows, lines = read_records(path, sep)
    header, rows, lines = rows[0], rows[1:], lines[1:]
    if not rows:
        raise DataError("no records after the header", path=path, line=2)
    check_widths(rows, lines, len(header), path, sep)
    return header, rows, lines


def check_widths(rows: Sequence[Sequence[str]], lines: Sequence[int], width: int, path: Path, sep: str) -> None:
    """Every record has ``width`` fields, or a DataError at the first that does not."""
    for fields, line in zip(rows, lines, strict=True):
        if len(fields) != width:
            raise DataError(f"expected {width} fields separated by {sep!r}, found {len(fields)}", path=path, line=line)


def column_index(header: Sequence[str], name: str, path: Path, line: int = 1) -> int:
    """Position of column ``name`` in ``header``, or a DataError listing the header."""
    try:
        return list(header).index(name)
    except ValueError:
        raise DataError(f"missing column {name!r}; the header has: {', '.join(header)}", path=path, line=line) from None


def parse_numbers(values: Sequence[str], lines: Sequence[int], what: str, path: Path) -> np.ndarray:
    """``values`` as int64 when all are integers, else float64; a DataError at the first
    value that is not a finite number."""
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        out = np.array(values, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(out))
    except ValueError:
        bad = [i for i, v in enumerate(values) if not _is_number(v)]
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{what} {values[i]!r} is not a number", path=path, line=lines[i])
    return out


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def json_lines(path: Path, parse: Callable[[str], Any] = json.loads) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each non-blank line, parsed by ``parse``; a DataError at a
    line that does not parse to an object."""
    any_line = False
    with open_text(path) as stream:
        for line_no, line in enumerate(stream, 1):
            if not line.strip():
                continue
            any_line = True
            try:
                obj = parse(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
                reason = getattr(exc, "msg", None) or str(exc)
                raise DataError(f"not a JSON object: {reason}", path=path, line=line_no) from None
            if not isinstance(obj, dict):
                raise DataError(f"expected an object, got {type(obj).__name__}", path=path, line=line_no)
            yield line_no, obj
    if not any_line:
        raise DataError("empty file", path=path, line=1)


def require_keys(obj: dict[str, Any], keys: Sequence[str], path: Path, line: int) -> None:
    """A DataError naming the first of ``keys`` that ``obj`` lacks."""
    for key in keys:
        if key not in obj:
            raise DataError(f"missing key {key!r}; the object has: {', '.join(obj)}", path=path, line=line)


def clean_text(value: Any) -> Any:
    """HTML entities decoded in a string, or in each string of a list; other values as given."""
    if isinstance(value, str):
        return html.unescape(value)
    if isinstance(value, list):
        return [clean_text(v) for v in value]
    return value
