"""The HTTP application: a finished run's model behind JSON, requests micro-batched.

``POST /recommend`` with ``{"history": [ids], "k": 10, "user": ...}`` answers
``{"user": ..., "items": [{"item_id", "title", "score", "sid"}, ...]}``; with
``{"histories": [[ids] | {"history": [ids], "user": ...}, ...], "k": 10}`` it answers
``{"recommendations": [...]}``, one entry per history in order. ``GET /health`` and
``GET /info`` (components, catalog size, SID shape, batching settings, decoder calls so far).

Bad requests get a 4xx and a JSON ``{"error": message}``: malformed JSON (400), a body over
``max_body_bytes`` (413), a missing or mistyped field, an unknown item id or ``k`` out of
range (422). The server keeps serving after any of them.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any

from sidkit.artifacts import read_json
from sidkit.errors import ArtifactError
from sidkit.predict import request_fields
from sidkit.serving import LoadedRun
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .batcher import MicroBatcher

__all__ = ["create_app", "BadRequest"]


class BadRequest(Exception):
    """A client error: its HTTP status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _ranker(run: LoadedRun):
    def rank(histories, k):
        ranking = run.rank_indices(histories, k, batch_size=max(1, len(histories)))
        rows = []
        for r in range(len(histories)):
            row = []
            for j, item in enumerate(ranking.items[r].tolist()):
                if item < 0:
                    break
                row.append((item, None if ranking.scores is None else float(ranking.scores[r][j])))
            rows.append(row)
        return rows

    return rank


def _k(body: dict[str, Any], default: int, max_k: int) -> int:
    k = body.get("k", default)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= max_k:
        raise BadRequest(422, f'"k" must be an integer from 1 to {max_k}, got {k!r}')
    return k


def _parse(body: Any, max_histories: int) -> tuple[list[tuple[Any, list[str]]], bool]:
    """The ``(user, history)`` pairs of a request body and whether it asked for many."""
    if not isinstance(body, dict):
        raise BadRequest(422, 'expected a JSON object with "history" (one) or "histories" (many)')
    if "histories" in body:
        many = body["histories"]
        if not isinstance(many, list) or not many:
            raise BadRequest(422, '"histories" must be a non-empty list of histories')
        if len(many) > max_histories:
            raise BadRequest(413, f'"histories" has {len(many)} entries; at most {max_histories} per request')
        pairs = []
        for i, entry in enumerate(many):
            try:
                pairs.append(request_fields(entry if isinstance(entry, dict) else {"history": entry}))
            except ValueError as exc:
                raise BadRequest(422, f"histories[{i}]: {exc}") from None
        return pairs, True
    try:
        return [request_fields(body)], False
    except ValueError as exc:
        raise BadRequest(422, str(exc)) from None


def create_app(
    run: LoadedRun, *, max_batch: int = 64, max_wait_ms: float = 5.0, max_body_bytes: int = 256 * 1024,
    max_k: int = 1000, max_histories: int = 1000, default_k: int = 10,
) -> Starlette:
    """The Starlette application serving ``run`` (see the module docstring)."""
    max_k = min(max_k, len(run.item_ids))
    batcher = MicroBatcher(_ranker(run), max_batch=max_batch, max_wait_ms=max_wait_ms)
    run_info = read_json(run.run_dir / "run.json") if (run.run_dir / "run.json").is_file() else {}

    def entry(item: int, score: float | None) -> dict[str, Any]:
        out = {"item_id": run.item_ids[item], "title": run.titles[item], "sid": run.sids.codes[item].tolist()}
        if score is not None:
            out["score"] = score
        return out

    async def recommend(request: Request) -> JSONResponse:
        try:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > max_body_bytes:
                raise BadRequest(413, f"request body of {length} bytes; at most {max_body_bytes}")
            raw = await request.body()
            if len(raw) > max_body_bytes:
                raise BadRequest(413, f"request body of {len(raw)} bytes; at most {max_body_bytes}")
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadRequest(400, f"malformed JSON: {exc}") from None
            pairs, many = _parse(body, max_histories)
            k = _k(body, default_k, max_k)
            try:
                indices = [run.item_index(history) for _, history in pairs]
            except ArtifactError as exc:
                raise BadRequest(422, str(exc)) from None
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        rows = await batcher.submit(indices, k)
        answers = [{"user": user, "items": [entry(i, s) for i, s in row]} for (user, _), row in zip(pairs, rows, strict=True)]
        return JSONResponse({"recommendations": answers} if many else answers[0])

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def info(_request: Request) -> JSONResponse:
        return JSONResponse({
            "run_dir": str(run.run_dir), "components": run_info.get("plugins", {}), "seed": run_info.get("seed"),
            "n_items": len(run.item_ids), "codebook_sizes": list(run.sids.codebook_sizes),
            "max_batch": max_batch, "max_wait_ms": max_wait_ms, "max_k": max_k, "decoder_calls": batcher.calls,
        })

    @asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = Starlette(
        routes=[Route("/recommend", recommend, methods=["POST"]), Route("/health", health), Route("/info", info)],
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    return app
