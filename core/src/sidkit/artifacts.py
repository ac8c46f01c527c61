"""Run directories, atomic writes, safetensors/JSON state files and stage fingerprints.

No pickle anywhere: arrays go to safetensors (numpy API, so no torch import here),
everything else to JSON. Every write goes to a temporary file in the same directory and
is moved into place with ``os.replace``, so a killed process never leaves a half-written
file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import ArtifactError
from .types import ItemEmbeddings, SIDTable

__all__ = [
    "atomic_writer",
    "atomic_write_bytes",
    "fsync_dir",
    "atomic_write_text",
    "write_json",
    "read_json",
    "save_arrays",
    "load_arrays",
    "fingerprint",
    "file_digest",
    "save_sids",
    "load_sids",
    "save_embeddings",
    "load_embeddings",
    "StageRecord",
]


def fsync_dir(path: Path | str) -> None:
    """Flush a directory entry (a rename inside it) to disk; a no-op where directories
    cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path | str, mode: str = "wb", **open_kw: Any) -> Iterator[IO[Any]]:
    """A file to write ``path`` through, atomically: a temp file in the same folder,
    fsynced and renamed over ``path`` when the block ends, removed if it raises; a reader
    sees the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_writer`)."""
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None


def save_arrays(path: Path | str, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> None:
    """Save named numpy arrays as one safetensors file, atomically."""
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=dict(metadata or {}))
    atomic_write_bytes(path, data)


def load_arrays(path: Path | str, expect: Mapping[str, tuple[int | None, ...]] | None = None) -> dict[str, np.ndarray]:
    """Load a safetensors file as numpy arrays; check names and shapes given in ``expect``
    (``None`` in a shape is a wildcard)."""
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: missing")
    try:
        arrays = load_file(str(path))
    except Exception as exc:
        raise ArtifactError(f"{path}: not a readable safetensors file ({exc})") from None
    for name, shape in (expect or {}).items():
        if name not in arrays:
            raise ArtifactError(f"{path}: tensor {name!r} missing (has: {', '.join(sorted(arrays))})")
        got = arrays[name].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got, strict=False)):
            raise ArtifactError(f"{path}: tensor {name!r} has shape {tuple(got)}, expected {tuple(shape)}")
    return arrays


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (configs, upstream fingerprints, versions)."""
    blob = json.dumps(parts, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def file_digest(path: Path | str, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (first 20 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:20]


def save_sids(path: Path | str, sids: SIDTable) -> None:
    save_arrays(path, {"codes": sids.codes}, {"codebook_sizes": json.dumps(list(sids.codebook_sizes))})


def load_sids(path: Path | str, n_items: int | None = None) -> SIDTable:
    from safetensors import safe_open

    arrays = load_arrays(path, {"codes": (n_items, None)})
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
    if "codebook_sizes" not in meta:
        raise ArtifactError(f"{path}: no codebook_sizes metadata; not a sidkit SID file")
    try:
        return SIDTable(arrays["codes"], json.loads(meta["codebook_sizes"]))
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from None


def save_embeddings(path: Path | str, emb: ItemEmbeddings) -> None:
    arrays = {"values": emb.values, **{f"view.{k}": v for k, v in emb.views.items()}}
    save_arrays(path, arrays)


def load_embeddings(path: Path | str, n_items: int | None = None) -> ItemEmbeddings:
    arrays = load_arrays(path, {"values": (n_items, None)})
    views = {k[len("view.") :]: v for k, v in arrays.items() if k.startswith("view.")}
    return ItemEmbeddings(arrays["values"], views)


class StageRecord:
    """``stage.json`` of one pipeline stage: the fingerprint its outputs were made from.

    A stage is reused on a re-run only when the record exists and its fingerprint equals
    the fingerprint computed now; the record is written last, after every output, so an
    interrupted stage is never mistaken for a finished one.
    """

    FILE = "stage.json"

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    @property
    def path(self) -> Path:
        return self.directory / self.FILE

    def is_current(self, fp: str) -> bool:
        if not self.path.exists():
            return False
        try:
            return read_json(self.path).get("fingerprint") == fp
        except ArtifactError:
            return False

    STARTED = "started.json"
    WORK = "work"

    def start(self, fp: str) -> None:
        """Mark the stage as being recomputed for ``fp``. Its ``work/`` folder (training
        checkpoints) is kept only when the last attempt was for the same fingerprint, so an
        interrupted stage resumes while a changed stage starts clean."""
        started = self.directory / self.STARTED
        previous = None
        if started.exists():
            try:
                previous = read_json(started).get("fingerprint")
            except ArtifactError:
                previous = None
        if previous != fp and (self.directory / self.WORK).exists():
            shutil.rmtree(self.directory / self.WORK)
        if self.path.exists():
            self.path.unlink()
        write_json(started, {"fingerprint": fp})

    def artifacts(self) -> list[Path]:
        """The stage's output files (everything but its records and its ``work/`` folder)."""
        skip = {self.FILE, self.STARTED}
        return sorted(
            p for p in self.directory.rglob("*")
            if p.is_file() and p.relative_to(self.directory).parts[0] not in (*skip, self.WORK)
        )

    def mark_done(self, fp: str, **info: Any) -> None:
        """Record the stage as finished for ``fp``, with the sha256 of every artifact."""
        digests = {p.relative_to(self.directory).as_posix(): file_digest(p) for p in self.artifacts()}
        write_json(self.path, {"fingerprint": fp, **info, "artifacts": digests})

    def verify(self) -> list[str]:
        """Problems with the recorded artifacts: missing files and changed bytes (none for a
        record written before digests were kept)."""
        try:
            digests = read_json(self.path).get("artifacts") or {}
        except ArtifactError as exc:
            return [str(exc)]
        problems = []
        for name, digest in sorted(digests.items()):
            path = self.directory / name
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif file_digest(path) != digest:
                problems.append(f"{path}: changed since the stage finished (sha256 differs)")
        return problems

    def status(self) -> str:
        """``done``, ``corrupt`` (finished, but an artifact is missing or changed),
        ``interrupted`` (started, never finished) or ``missing``."""
        if self.path.exists():
            return "corrupt" if self.verify() else "done"
        return "interrupted" if (self.directory / self.STARTED).exists() else "missing"

    def info(self) -> dict[str, Any]:
        """``{"status": ..., "fingerprint": ..., ...}`` of the stage (``problems`` when corrupt)."""
        status = self.status()
        if status == "corrupt":
            return {"status": status, **read_json(self.path), "problems": self.verify()}
        if status == "done":
            return {"status": status, **read_json(self.path)}
        if status == "interrupted":
            return {"status": status, **read_json(self.directory / self.STARTED)}
        return {"status": status}
