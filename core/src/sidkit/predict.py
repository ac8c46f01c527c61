"""Batch inference behind ``sidkit predict``: JSONL histories in, JSONL recommendations out.

Each input line is a JSON object ``{"history": [item ids, oldest first], "user": ...}``
(``user`` optional, echoed back). Each output line answers one input line, in input order:
``{"line": n, "user": ..., "items": [...], "scores": [...], "sids": [[...], ...]}``. A bad
input line (not JSON, no history, an unknown item id, ...) either stops the run
(``on_error="fail"``: nothing is written) or is reported with its line number and skipped.
The output file is written atomically: it appears complete or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from .artifacts import atomic_writer
from .errors import ArtifactError, SidkitError
from .serving import LoadedRun

__all__ = ["PredictSummary", "predict_file", "parse_request", "request_fields", "ON_ERROR"]

ON_ERROR = ("fail", "skip")


@attrs.define
class PredictSummary:
    """What :func:`predict_file` did: lines answered, lines skipped (first errors kept)."""

    written: int = 0
    skipped: int = 0
    errors: list[str] = attrs.field(factory=list)
    seconds: float = 0.0


def _item_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_request(text: str) -> tuple[Any, list[str]]:
    """``(user, history)`` of one input line, or a ``ValueError`` saying what is wrong."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    return request_fields(obj)


def request_fields(obj: Any) -> tuple[Any, list[str]]:
    """``(user, history)`` of a decoded request object ``{"history": [...], "user": ...}``
    (item ids as strings or integers), or a ``ValueError`` saying what is wrong."""
    if not isinstance(obj, dict) or "history" not in obj:
        raise ValueError('expected a JSON object with a "history" list, e.g. {"user": "u1", "history": ["i3", "i7"]}')
    history = obj["history"]
    if not isinstance(history, list) or not history:
        raise ValueError(f'"history" must be a non-empty list of item ids, got {history!r}'[:200])
    ids = [_item_id(v) for v in history]
    if any(v is None for v in ids):
        bad = next(v for v, i in zip(history, ids, strict=True) if i is None)
        raise ValueError(f'"history" holds {bad!r}; item ids are strings (or integers)')
    user = obj.get("user")
    if user is not None and _item_id(user) is None:
        raise ValueError(f'"user" must be a string or an integer, got {user!r}')
    return user, ids


def _requests(path: Path, run: LoadedRun, summary: PredictSummary, on_error: str) -> Iterator[tuple[int, Any, list[int]]]:
    """``(line number, user, catalog indices)`` of every good line of ``path``."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SidkitError(f"{path}: no such file") from None
    with handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    user, ids = parse_request(text)
                    indices = run.item_index(ids)
                except (ValueError, ArtifactError) as exc:
                    message = f"{path}:{number}: {exc}"
                    if on_error == "fail":
                        raise SidkitError(f"{message} (use --on-error skip to skip bad lines)") from None
                    summary.skipped += 1
                    if len(summary.errors) < 20:
                        summary.errors.append(message)
                    continue
                yield number, user, indices
        except UnicodeDecodeError as exc:
            raise SidkitError(f"{path}: not UTF-8 text (byte offset {exc.start})") from None


def _record(run: LoadedRun, ranking: Any, row: int, number: int, user: Any) -> dict[str, Any]:
    items = [int(i) for i in ranking.items[row] if i >= 0]
    out: dict[str, Any] = {"line": number}
    if user is not None:
        out["user"] = user
    out["items"] = [run.item_ids[i] for i in items]
    if ranking.scores is not None:
        out["scores"] = [round(float(s), 6) for s in ranking.scores[row][: len(items)]]
    out["sids"] = run.sids.codes[items].tolist()
    return out


def predict_file(
    run: LoadedRun, input_path: str | Path, output_path: str | Path, *, k: int = 10, batch_size: int = 256,
    on_error: str = "fail", progress: Callable[[int], None] | None = None,
) -> PredictSummary:
    """Rank every history of ``input_path`` (JSONL) with ``run`` and write the answers to
    ``output_path`` (JSONL, same order, atomically). ``progress(n)`` is called after each
    batch with the number of lines answered so far."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be >= 1, got k={k}, batch_size={batch_size}")
    input_path, output_path = Path(input_path), Path(output_path)
    summary, started = PredictSummary(), time.perf_counter()
    with atomic_writer(output_path, "w", encoding="utf-8") as out:
        batch: list[tuple[int, Any, list[int]]] = []

        def flush() -> None:
            ranking = run.rank_indices([b[2] for b in batch], k, batch_size)
            for row, (number, user, _) in enumerate(batch):
                out.write(json.dumps(_record(run, ranking, row, number, user), ensure_ascii=False) + "\n")
            summary.written += len(batch)
            batch.clear()
            if progress is not None:
                progress(summary.written)

        for request in _requests(input_path, run, summary, on_error):
            batch.append(request)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    summary.seconds = time.perf_counter() - started
    return summary
