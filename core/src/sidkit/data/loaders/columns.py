"""Reading the columns of a delimited interaction file straight into numpy arrays, in chunks.

A file is read in blocks of about :data:`CHUNK_BYTES` that end at a line end; each block
is split into lines and fields by vectorised byte arithmetic (``np.frombuffer``, the
positions of the newlines and separators), and the wanted fields become fixed-width
``bytes`` arrays (ids) or int64/float64 arrays (numbers) at once: no Python object per
row. Only a quoted CSV file that actually holds a quote character is read through the
:mod:`csv` module (quoted fields may hold separators and newlines), still converted to
arrays every :data:`CSV_ROWS` records so that memory stays bounded.

Errors are those of :func:`~sidkit.data.loaders.reading.read_table` and friends: a
:class:`~sidkit.errors.DataError` naming the file, the 1-based line of the record and the reason.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs
import numpy as np

from ...errors import DataError
from .reading import _gzip_problem, _is_gzip, _not_text, _records, column_index, parse_numbers, parse_timestamps

__all__ = [
    "CHUNK_BYTES",
    "CSV_ROWS",
    "Columns",
    "read_columns",
    "char_matrix",
    "byte_strings",
    "digits_to_int",
    "canonical_ints",
    "concat_ids",
    "decode_ids",
]

CHUNK_BYTES = 1 << 24
"""Bytes per block of a vectorised read (blocks end at a line end)."""
CSV_ROWS = 1 << 16
"""Records per array conversion of a quoted CSV file read through the csv module."""

BOM = b"\xef\xbb\xbf"


@attrs.frozen(eq=False)
class Columns:
    """Parsed columns: ``header`` (the first record, when the file has one), ``ids[name]``
    (fixed-width bytes arrays, text in ``encoding``; int64 when every id of the column is a
    canonical integer, see :func:`digits_to_int`), ``numbers[name]`` (int64 when every
    value is an integer, else float64), and the 1-based ``lines`` of the records."""

    header: list[str] | None
    ids: dict[str, np.ndarray]
    numbers: dict[str, np.ndarray]
    lines: np.ndarray
    encoding: str


def char_matrix(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``[n, w]`` uint8: ``buf[starts[i]:ends[i]]`` in row ``i``, zero-padded on the right
    (one gather per column: no ``n * w`` index array)."""
    lengths = ends - starts
    width = max(int(lengths.max(initial=0)), 1)
    out = np.zeros((len(starts), width), dtype=np.uint8)
    last = max(len(buf) - 1, 0)
    for j in range(width):
        inside = lengths > j
        if len(buf):
            out[:, j] = np.where(inside, buf[np.minimum(starts + j, last)], 0)
    return out


def byte_strings(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``buf[starts[i]:ends[i]]`` for every ``i`` as one fixed-width bytes array (``S<w>``)."""
    chars = char_matrix(buf, starts, ends)
    return chars.view(f"S{chars.shape[1]}").reshape(-1)


def digits_to_int(chars: np.ndarray, lengths: np.ndarray, canonical: bool) -> np.ndarray | None:
    """Rows of ``chars`` (``[n, w]``, zero-padded) that are all decimal digits, as int64, or
    ``None`` when one is not (empty, a sign, a space, a dot, more than 18 digits...). With
    ``canonical``, also ``None`` when one has a leading zero (``"07"``): then equal numbers
    are equal strings, as ids need."""
    n, width = chars.shape
    if n == 0 or width > 18 or (lengths < 1).any():
        return None
    digit = chars - np.uint8(48)  # wraps around: only "0".."9" give 0..9, padding gives 208
    if not np.array_equal(digit <= 9, np.arange(width)[None, :] < lengths[:, None]):
        return None
    value = np.zeros(n, dtype=np.int64)
    for j in range(width):
        step = value * 10 + digit[:, j]
        value = step if j < lengths.min() else np.where(lengths > j, step, value)
    if canonical and ((chars[:, 0] == 48) & (lengths > 1)).any():
        return None
    return value


def canonical_ints(ids: np.ndarray, rows_per_step: int = 1 << 22) -> np.ndarray | None:
    """``ids`` (bytes) as int64 when every one is an integer written the one way ``str(int)``
    writes it (no sign but ``-``, no leading zero, no space, at most 18 digits), so that
    equal numbers are equal strings; else ``None``."""
    if ids.dtype.kind != "S" or len(ids) == 0 or ids.dtype.itemsize > 19:
        return None
    for lo in range(0, len(ids), rows_per_step):
        if not _canonical(ids[lo : lo + rows_per_step]):
            return None
    return ids.astype(np.int64)


def _canonical(ids: np.ndarray) -> bool:
    width = ids.dtype.itemsize
    chars = ids.view(np.uint8).reshape(len(ids), width)
    nonzero = chars != 0
    lengths = np.count_nonzero(nonzero, axis=1)
    cols = np.arange(width)[None, :]
    inside = cols < lengths[:, None]
    if not np.array_equal(inside, nonzero):  # a NUL inside
        return False
    minus = chars[:, 0] == ord("-")
    first_digit = np.where(minus, chars[:, min(1, width - 1)], chars[:, 0])
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    ok = (lengths >= 1) & (lengths <= 18 + minus) & (~minus | (lengths >= 2))
    ok &= np.all(digit | ~inside | ((cols == 0) & minus[:, None]), axis=1)
    ok &= (first_digit != ord("0")) | (lengths == 1)  # no leading zero, no "-0"
    return bool(ok.all())


def concat_ids(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Id blocks as one array: int64 when every block is, else bytes (int blocks as their
    decimal text)."""
    if all(p.dtype.kind == "i" for p in parts):
        return np.concatenate(parts)
    return np.concatenate([p.astype(bytes) if p.dtype.kind == "i" else p for p in parts])


def decode_ids(ids: np.ndarray, encoding: str) -> np.ndarray:
    """A bytes array decoded to a str array (str arrays are returned as they are)."""
    if ids.dtype.kind != "S":
        return ids
    try:
        return ids.astype(str)  # ASCII
    except UnicodeDecodeError:
        return np.char.decode(ids, encoding)


def _text_values(ids: np.ndarray, encoding: str) -> np.ndarray:
    return decode_ids(ids, encoding)


def _byte_blocks(path: Path, size: int) -> Iterator[bytes]:
    """The file's bytes (gunzipped) in blocks that end at a newline (the last at EOF)."""
    gz = _is_gzip(path)
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    try:
        with raw:
            rest = b""
            while True:
                block = raw.read(size)
                if not block:
                    if rest:
                        yield rest
                    return
                data = rest + block if rest else block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                yield data[:cut]
                rest = data[cut:]
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        if not gz:
            raise
        raise DataError(_gzip_problem(exc), path=path) from None


def _separator_positions(buf: np.ndarray, sep: bytes) -> np.ndarray:
    """Start of every occurrence of ``sep``, left to right without overlaps (as ``str.split``)."""
    if len(sep) == 1:
        return np.flatnonzero(buf == sep[0])
    n = len(buf) - len(sep) + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    hit = np.ones(n, dtype=bool)
    for k, b in enumerate(sep):
        hit &= buf[k : k + n] == b
    pos = np.flatnonzero(hit)
    if len(pos) > 1 and (np.diff(pos) < len(sep)).any():  # overlapping matches (":::"): keep greedily
        kept, last = [], -len(sep)
        for p in pos.tolist():
            if p >= last + len(sep):
                kept.append(p)
                last = p
        pos = np.asarray(kept, dtype=np.int64)
    return pos


class _Reader:
    """Accumulates the wanted columns of one file, block by block."""

    def __init__(self, path: Path, sep: str, width: int | None, header: bool, ids, numbers, names, encoding):
        self.path, self.sep, self.width, self.want_header = path, sep, width, header
        self.header: list[str] | None = None
        self.wanted_ids: Mapping[str, int | str] = ids
        self.wanted_numbers: Mapping[str, int | str] = numbers
        self.names: Mapping[str, str] = names  # column role -> name in error messages
        self.encoding = encoding
        self.line_parts: list[np.ndarray] = []
        self.n_records = 0
        if not header:
            self.resolve([])

    # -- header ---------------------------------------------------------------------------
    def set_header(self, fields: list[str]) -> None:
        self.header = fields
        self.width = len(fields)
        self.resolve(fields)

    def resolve(self, header: list[str]) -> None:
        """Column names -> positions, once the header is known."""

        def at(col: int | str) -> int:
            return col if isinstance(col, int) else column_index(header, col, self.path)

        self.id_cols = {role: at(c) for role, c in self.wanted_ids.items()}
        self.num_cols = {role: at(c) for role, c in self.wanted_numbers.items()}
        self.id_parts: dict[str, list[np.ndarray]] = {k: [] for k in self.id_cols}
        self.num_parts: dict[str, list[np.ndarray]] = {k: [] for k in self.num_cols}

    # -- records of one block, as fields ---------------------------------------------------
    def add(
        self, fields: Mapping[int, np.ndarray], lines: np.ndarray, text: bool = False, ints: Mapping | None = None
    ) -> None:
        """``fields[c]``: column ``c`` of the block's records (bytes, or str when ``text``);
        ``ints[c]``: the same as int64 when every one is a plain run of digits (else None)."""
        if not len(lines):
            return
        ints = ints or {}
        for role, col in self.num_cols.items():
            if ints.get(col) is not None:  # digits only: what int() gives, without the detour through str
                self.num_parts[role].append(ints[col])
                continue
            values = fields[col] if text else _text_values(fields[col], self.encoding)
            parse = parse_timestamps if role == "time" else parse_numbers
            self.num_parts[role].append(parse(values, lines, self.names.get(role, role), self.path))
        for role, col in self.id_cols.items():
            if ints.get(col) is not None:
                self.id_parts[role].append(ints[col])
            else:
                values = fields[col]
                self.id_parts[role].append(np.char.encode(values, self.encoding) if text else values)
        self.line_parts.append(np.asarray(lines, dtype=np.int64))
        self.n_records += len(lines)

    def columns(self) -> Columns:
        ids = {k: concat_ids(v) for k, v in self.id_parts.items()}
        nums = {k: np.concatenate(v) for k, v in self.num_parts.items()}
        return Columns(self.header, ids, nums, np.concatenate(self.line_parts), self.encoding)


def _check_width(counts: np.ndarray, lines: np.ndarray, width: int, path: Path, sep: str) -> None:
    bad = np.flatnonzero(counts != width)
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"expected {width} fields separated by {sep!r}, found {int(counts[i])}", path=path, line=int(lines[i])
        )


def _line_breaks(buf: np.ndarray) -> np.ndarray:
    """Positions of the line breaks: every ``\\n`` and every ``\\r`` not followed by one
    (Python's universal newlines, as the text reader counted lines)."""
    cr = buf == 13
    if cr.any():
        cr[:-1] &= buf[1:] != 10
        return np.flatnonzero((buf == 10) | cr)
    return np.flatnonzero(buf == 10)


def _vector_block(reader: _Reader, data: bytes, first_line: int) -> int:
    """Split one block (whole lines) by byte arithmetic and hand its fields to ``reader``;
    returns the number of line breaks in it."""
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = _line_breaks(buf)
    starts = np.concatenate([[0], nl + 1]).astype(np.int64)
    ends = np.concatenate([nl, [len(buf)]]).astype(np.int64)
    lines = first_line + np.arange(len(starts), dtype=np.int64)
    if len(starts) and starts[-1] == len(buf):  # nothing after the last newline
        starts, ends, lines = starts[:-1], ends[:-1], lines[:-1]
    while True:  # line ends "\r\n": drop the "\r"s (as rstrip("\r\n"))
        cr = ends > starts
        cr[cr] = buf[ends[cr] - 1] == 13
        if not cr.any():
            break
        ends = ends - cr
    keep = ends > starts  # blank lines are no records
    starts, ends, lines = starts[keep], ends[keep], lines[keep]
    sep = reader.sep.encode(reader.encoding)
    pos = _separator_positions(buf, sep)
    if reader.want_header and reader.header is None and len(starts):
        header = bytes(buf[starts[0] : ends[0]]).decode(reader.encoding)
        reader.set_header(header.split(reader.sep))
        starts, ends, lines = starts[1:], ends[1:], lines[1:]
    if not len(starts):
        return len(nl)
    first_sep = np.searchsorted(pos, starts)
    counts = np.searchsorted(pos, ends) - first_sep + 1
    _check_width(counts, lines, reader.width, reader.path, reader.sep)
    at = first_sep[:, None] + np.arange(reader.width - 1)[None, :]
    seps = pos[at] if reader.width > 1 else np.zeros((len(starts), 0), dtype=np.int64)
    fields, ints = {}, {}
    for col in {*reader.id_cols.values(), *reader.num_cols.values()}:
        lo = starts if col == 0 else seps[:, col - 1] + len(sep)
        hi = ends if col == reader.width - 1 else seps[:, col]
        chars = char_matrix(buf, lo, hi)
        fields[col] = chars.view(f"S{chars.shape[1]}").reshape(-1)
        canonical = col in reader.id_cols.values()
        ints[col] = digits_to_int(chars, hi - lo, canonical=canonical)
    reader.add(fields, lines, ints=ints)
    return len(nl)


def _csv_rows(reader: _Reader, path: Path, start: int, first_line: int, quoted: bool) -> None:
    """The rest of the file from byte ``start`` through the csv module (a quoted CSV file
    that holds quotes), converted to arrays every :data:`CSV_ROWS` records."""
    gz = _is_gzip(path)
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    with raw:
        raw.seek(start)
        encoding = "utf-8-sig" if reader.encoding == "utf-8" and start == 0 else reader.encoding
        stream = io.TextIOWrapper(raw, encoding=encoding, newline="")
        rows: list[list[str]] = []
        lines: list[int] = []
        csv_rows = CSV_ROWS

        def flush() -> None:
            if not rows:
                return
            w = reader.width
            _check_width(np.array([len(r) for r in rows]), np.array(lines), w, path, reader.sep)
            cols = {*reader.id_cols.values(), *reader.num_cols.values()}
            reader.add({c: np.array([r[c] for r in rows], dtype=str) for c in cols}, np.array(lines), text=True)
            rows.clear()
            lines.clear()

        try:
            for line, fields in _records(stream, reader.sep, quoted, path):
                line += first_line - 1
                if reader.want_header and reader.header is None:
                    reader.set_header(fields)
                    continue
                rows.append(fields)
                lines.append(line)
                if len(rows) >= csv_rows:
                    flush()
            flush()
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            if not gz:
                raise
            raise DataError(_gzip_problem(exc), path=path) from None


def _read(reader: _Reader, path: Path, quoted: bool, chunk_bytes: int) -> None:
    offset, line = 0, 1
    for block in _byte_blocks(path, chunk_bytes):
        data = block
        if offset == 0 and reader.encoding == "utf-8" and data.startswith(BOM):
            data = data[len(BOM) :]
        data.decode(reader.encoding)  # UnicodeDecodeError: the caller tries the next encoding
        if quoted and b'"' in data:
            return _csv_rows(reader, path, offset, line, quoted)
        offset += len(block)
        line += _vector_block(reader, data, line)
    return None


def read_columns(
    path: Path,
    sep: str,
    *,
    ids: Mapping[str, int | str],
    numbers: Mapping[str, int | str],
    header: bool,
    width: int | None = None,
    quoted: bool = True,
    encodings: Sequence[str] = ("utf-8",),
    names: Mapping[str, str] | None = None,
    chunk_bytes: int | None = None,
) -> Columns:
    """The columns ``ids`` (role -> position, or column name when ``header``) as bytes arrays
    and ``numbers`` (role -> position or name) as numbers, of a delimited file.

    ``header``: the first record names the columns (a missing name is a DataError listing the
    header) and every record has as many fields; else every record has ``width`` fields.
    ``quoted``, ``encodings``: as :func:`~sidkit.data.loaders.reading.read_records`.
    ``names``: role -> column name in error messages (``"time"`` numbers are timestamps).
    ``chunk_bytes``: bytes per block (default :data:`CHUNK_BYTES`).
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    for n, encoding in enumerate(encodings):
        labels = {"time": "timestamp", "rating": "rating", **(names or {})}
        reader = _Reader(path, sep, width, header, dict(ids), dict(numbers), labels, encoding)
        try:
            _read(reader, path, quoted, chunk_bytes)
        except UnicodeDecodeError as exc:
            if n + 1 < len(encodings):
                continue
            raise _not_text(path, encoding, exc) from None
        if reader.n_records == 0:
            if header and reader.header is not None:
                raise DataError("no records after the header", path=path, line=2)
            raise DataError("empty file", path=path, line=1)
        return reader.columns()
    raise AssertionError("no encodings given")
