"""`sidkit serve` on a finished toy run (sidkit-toy components): answers equal
`LoadedRun.recommend`, concurrent requests share decoder calls, and every bad request gets
a 4xx with a message while the server keeps answering."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sidkit_toy.pipelines import sidkit_cli, toy_pipeline

ENV = {**os.environ, "SIDKIT_LOAD_PLUGINS": "sidkit-toy,sidkit-serve", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    (root / "toy.toml").write_text(toy_pipeline(small=True, seed=2, epochs=2))
    out = sidkit_cli("run", "toy.toml", "--out", "run", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "run"


@pytest.fixture(scope="module")
def loaded(run_dir):
    from sidkit.registry import Registry
    from sidkit.serving import load_run

    registry = Registry()
    registry.load_entry_points(["sidkit-toy"])
    return load_run(run_dir, registry=registry)


@pytest.fixture
def client(loaded):
    from sidkit_serve.app import create_app
    from starlette.testclient import TestClient

    app = create_app(loaded, max_batch=64, max_wait_ms=50, max_body_bytes=4096, max_k=50, max_histories=20)
    with TestClient(app) as c:
        c.app_state = app.state
        yield c


def test_health_and_info(client, loaded):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["n_items"] == len(loaded.item_ids) and info["components"]["generator"]["name"] == "toy-mlp"
    assert info["codebook_sizes"] == list(loaded.sids.codebook_sizes) and info["max_k"] == 50


def test_one_and_many_histories_answer_like_recommend(client, loaded):
    ids = loaded.item_ids
    one = client.post("/recommend", json={"user": "u9", "history": ids[:3], "k": 7})
    assert one.status_code == 200
    body = one.json()
    assert body["user"] == "u9" and [e["item_id"] for e in body["items"]] == [r["item_id"] for r in loaded.recommend(ids[:3], 7)]
    assert all(e["sid"] == loaded.sids.codes[ids.index(e["item_id"])].tolist() for e in body["items"])
    histories = [ids[:2], {"user": 4, "history": ids[5:9]}, ids[20:21]]
    many = client.post("/recommend", json={"histories": histories, "k": 5}).json()["recommendations"]
    plain = [h["history"] if isinstance(h, dict) else h for h in histories]
    assert [[e["item_id"] for e in m["items"]] for m in many] == [[r["item_id"] for r in x] for x in loaded.recommend_batch(plain, 5)]
    assert [m["user"] for m in many] == [None, 4, None]


def test_concurrent_requests_share_decoder_calls(client, loaded):
    ids = loaded.item_ids
    before = client.app_state.batcher.calls
    histories = [ids[i : i + 3] for i in range(24)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda h: client.post("/recommend", json={"history": h, "k": 4}).json(), histories))
    expected = loaded.recommend_batch(histories, 4)
    assert [[e["item_id"] for e in a["items"]] for a in answers] == [[r["item_id"] for r in x] for x in expected]
    calls = client.app_state.batcher.calls - before
    assert 1 <= calls < len(histories)  # micro-batched: fewer decoder calls than requests


BAD = [
    (b"{not json", 400, "malformed JSON"),
    (b'["a"]', 422, 'expected a JSON object with "history"'),
    (b'{"k": 3}', 422, 'a "history" list'),
    (b'{"history": []}', 422, '"history" must be a non-empty list'),
    (b'{"history": ["no-such-item"]}', 422, "unknown item id(s) 'no-such-item'"),
    (b'{"history": ["ID"], "k": 0}', 422, '"k" must be an integer from 1 to 50'),
    (b'{"history": ["ID"], "k": 51}', 422, '"k" must be an integer from 1 to 50'),
    (b'{"history": ["ID"], "k": "5"}', 422, '"k" must be an integer'),
    (b'{"histories": [["ID"], [7.5]]}', 422, "histories[1]: "),
    (b'{"histories": ' + json.dumps([["ID"]] * 21).encode() + b"}", 413, "at most 20 per request"),
    (b'{"history": ["ID"], "pad": "' + b"x" * 5000 + b'"}', 413, "at most 4096"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD)
def test_bad_requests_get_4xx_and_the_server_keeps_serving(client, loaded, body, status, message):
    response = client.post("/recommend", content=body.replace(b"ID", loaded.item_ids[0].encode()),
                           headers={"content-type": "application/json"})
    assert response.status_code == status and message in response.json()["error"]
    assert client.post("/recommend", json={"history": loaded.item_ids[:2]}).status_code == 200


def test_wrong_method_and_path(client):
    assert client.get("/recommend").status_code == 405
    assert client.get("/nothing").status_code == 404


def test_sidkit_serve_listens_on_loopback(run_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "sidkit.cli", "serve", str(run_dir), "--port", str(port)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json() == {"status": "ok"}:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"server did not answer: {proc.stderr.read() if proc.poll() is not None else 'still starting'}")
        answer = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"history": ["1", "2"], "k": 3}, timeout=30).json()
        assert len(answer["items"]) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=30)
