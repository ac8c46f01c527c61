"""A bounded load test of ``sidkit serve`` on loopback.

Starts ``sidkit serve RUN`` on a free port (without ``--run``: first trains the demo
pipeline, ``examples/synthetic-fast.toml``, for ``--epochs`` epochs into a temporary folder),
then sends ``--requests`` POST /recommend requests (one history each, the run's own test
histories) at each concurrency level (default 1, 8, 32) and stops the server. Prints per
level ``p50_ms=``, ``p99_ms=``, ``requests_per_s=``, ``errors=`` and the decoder calls the
server made (micro-batching shares them between concurrent requests).

    .venv/bin/python benchmarks/serve_load.py [--run RUN] [--requests 200] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, positive_int


async def _level(url: str, histories: list[list[str]], concurrency: int, k: int) -> tuple[list[float], int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    queue = list(enumerate(histories))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            _, history = queue.pop()
            t0 = time.perf_counter()
            try:
                response = await client.post(f"{url}/recommend", json={"history": history, "k": k})
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a finished run directory (default: train the demo briefly)")
    parser.add_argument("--requests", type=positive_int, default=200, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=positive_int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--epochs", type=positive_int, default=2)
    parser.add_argument("-k", type=positive_int, default=10)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args(argv)

    import httpx
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run
        if run_dir is None:
            from sidkit.pipeline import run_pipeline

            run_dir = Path(tmp) / "run"
            run_pipeline(REPO / "examples" / "synthetic-fast.toml", run_dir, overrides=[f"generator.train.epochs={args.epochs}"])
        from sidkit.serving import load_run

        run = load_run(run_dir)
        rng = np.random.default_rng(0)
        histories = [[run.item_ids[i] for i in rng.integers(0, len(run.item_ids), size=3)] for _ in range(args.requests)]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "sidkit.cli", "serve", str(run_dir), "--port", str(port), "--max-wait-ms", str(args.max_wait_ms)]
        server = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if server.poll() is not None:
                        print(server.stderr.read(), file=sys.stderr)
                        return 1
                    time.sleep(0.2)
            print(f"run: {run_dir}; {args.requests} requests per level, k {args.k}, max wait {args.max_wait_ms} ms")
            for concurrency in args.concurrency:
                calls_before = httpx.get(f"{url}/info").json()["decoder_calls"]
                t0 = time.perf_counter()
                latencies, errors = asyncio.run(_level(url, histories, concurrency, args.k))
                wall = time.perf_counter() - t0
                calls = httpx.get(f"{url}/info").json()["decoder_calls"] - calls_before
                ms = np.array(latencies) * 1000
                print(
                    f"concurrency={concurrency} p50_ms={np.percentile(ms, 50):.1f} p99_ms={np.percentile(ms, 99):.1f} "
                    f"requests_per_s={len(latencies) / wall:.1f} errors={errors} decoder_calls={calls}"
                )
        finally:
            server.terminate()
            server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
