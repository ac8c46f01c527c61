"""Reading source files: gzip-aware text, records with their line numbers, numeric columns.

Every problem is a :class:`~sidkit.errors.DataError` naming the file, the 1-based line
and the reason. UTF-8 text may start with a byte order mark (BOM); it is dropped.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import html
import io
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError

__all__ = [
    "existing_file",
    "open_text",
    "read_records",
    "read_table",
    "read_header",
    "check_widths",
    "column_index",
    "parse_numbers",
    "parse_timestamps",
    "TIMESTAMP_RANGE",
    "json_lines",
    "read_json",
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


GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _gzip_problem(exc: Exception) -> str:
    if isinstance(exc, EOFError):
        return "truncated gzip file: the compressed data ends early (an incomplete download or copy?)"
    return f"corrupt gzip file ({exc})"


@contextmanager
def open_text(path: Path, encoding: str = "utf-8") -> Iterator[io.TextIOBase]:
    """A text stream (gzip-decompressed when the file starts with the gzip magic bytes).
    ``newline=""`` keeps line ends as written, so quoted fields may hold newlines; UTF-8
    text may start with a BOM. A truncated or corrupt gzip file is a DataError."""
    gz = _is_gzip(path)
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    with io.TextIOWrapper(raw, encoding=encoding, newline="") as stream:
        try:
            yield stream
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            if not gz:
                raise
            raise DataError(_gzip_problem(exc), path=path) from None


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
            raise _not_text(path, encoding, exc) from None
        if not rows:
            raise DataError("empty file", path=path, line=1)
        return rows, lines
    raise AssertionError("no encodings given")


def _not_text(path: Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    """The DataError for a file that does not decode, at the line of the first bad byte."""
    reason = f"not valid {encoding} text ({exc.reason})"
    if path.suffix.lower() == ".gz" and not _is_gzip(path):
        reason += "; the name ends in .gz but the file is not gzip-compressed"
    return DataError(reason, path=path, line=_bad_text_line(path, encoding))


def _bad_text_line(path: Path, encoding: str) -> int:
    with open_text(path, encoding) as stream:
        data = stream.buffer.read()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 1


def read_header(path: Path, sep: str, *, quoted: bool = True, encoding: str = "utf-8") -> list[str]:
    """The first record of a delimited file (its header), without reading the rest."""
    try:
        with open_text(path, encoding) as stream:
            for _line, fields in _records(stream, sep, quoted, path):
                return fields
    except UnicodeDecodeError as exc:
        raise _not_text(path, encoding, exc) from None
    raise DataError("empty file", path=path, line=1)


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
        raise DataError(f"{what} {str(values[i])!r} is not a number", path=path, line=int(lines[i]))
    return out


TIMESTAMP_RANGE = (-(2**63), 2**63 - 1)


def parse_timestamps(values: Sequence[str], lines: Sequence[int], what: str, path: Path) -> np.ndarray:
    """:func:`parse_numbers`, then a DataError at the first value outside :data:`TIMESTAMP_RANGE`
    (timestamps are stored as int64 whole seconds, or ticks of another clock)."""
    out = parse_numbers(values, lines, what, path)
    if out.dtype.kind == "f":
        bad = np.flatnonzero((out < -(2.0**63)) | (out >= 2.0**63))
        if len(bad):
            i = int(bad[0])
            lo, hi = TIMESTAMP_RANGE
            raise DataError(
                f"{what} {str(values[i])!r} is out of range; expected seconds (or another integer clock)"
                f" that fit in 64 bits, between {lo} and {hi}",
                path=path,
                line=int(lines[i]),
            )
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
        try:
            for line_no, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                any_line = True
                yield line_no, _json_object(parse, line, path, line_no)
        except UnicodeDecodeError as exc:
            raise _not_text(path, "utf-8", exc) from None
    if not any_line:
        raise DataError("empty file", path=path, line=1)


def _json_object(parse: Callable[[str], Any], line: str, path: Path, line_no: int) -> dict[str, Any]:
    try:
        obj = parse(line)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        reason = getattr(exc, "msg", None) or str(exc)
        raise DataError(f"not a JSON object: {reason}", path=path, line=line_no) from None
    if not isinstance(obj, dict):
        raise DataError(f"expected an object, got {type(obj).__name__}", path=path, line=line_no)
    return obj


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """The JSON value in a (possibly gzipped) UTF-8 file, or a DataError naming the file,
    the line and what is wrong."""
    path = existing_file(path, what)
    try:
        with open_text(path) as stream:
            text = stream.read()
    except UnicodeDecodeError as exc:
        raise _not_text(path, "utf-8", exc) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
    except RecursionError:
        raise DataError("not valid JSON: nested too deeply", path=path) from None


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
