"""Batch inference throughput: ``LoadedRun.recommend_batch`` (what ``sidkit predict`` runs)
against one ``recommend`` call per history, on the same run and histories, in one process.

Without ``--run`` it first trains the embedded demo pipeline (``examples/synthetic-fast.toml``,
decoder-only + constrained beam search) for ``--epochs`` epochs into a temporary folder; the
model's quality does not matter here, only the decoding work. The histories are the run's
test histories. Prints ``users_per_s_one_at_a_time=``, ``users_per_s_batched=`` and, last,
``predict_speedup=`` (batched / one at a time; the goal is >= 20 at beam width 20).

    .venv/bin/python benchmarks/predict_throughput.py [--run RUN] [--users 300] [--width 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, positive_int


def _train_demo(out: Path, epochs: int, width: int) -> Path:
    from sidkit.pipeline import run_pipeline

    overrides = [f"generator.train.epochs={epochs}", f"decoder.beam_width={width}", "run.progress=false"]
    run_pipeline(REPO / "examples" / "synthetic-fast.toml", out, overrides=overrides)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a finished run directory (default: train the demo briefly)")
    parser.add_argument("--users", type=positive_int, default=300, help="histories to rank")
    parser.add_argument("--width", type=positive_int, default=20, help="beam width of the demo run (with --run: its own)")
    parser.add_argument("--epochs", type=positive_int, default=2, help="training epochs of the demo run")
    parser.add_argument("-k", type=positive_int, default=10)
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from sidkit.serving import load_run

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run or _train_demo(Path(tmp) / "run", args.epochs, args.width)
        run = load_run(run_dir)
        width = getattr(run.decoder.config, "beam_width", None)
        # the histories: the run's own test histories
        from sidkit.config import load_config
        from sidkit.data import load_from_config
        from sidkit.pipeline import build_split
        from sidkit.registry import get_registry

        cfg = load_config(Path(run_dir) / "config.resolved.toml", get_registry())
        split = build_split(load_from_config(cfg.data.config, cfg.data.format), cfg.split)
        rows = np.arange(min(args.users, len(split.test)))
        histories = [[run.item_ids[i] for i in split.test.histories[r]] for r in rows]

        run.recommend_batch(histories[:8], args.k)  # warm-up: allocations, first-call costs
        t0 = time.perf_counter()
        one = [run.recommend(h, args.k) for h in histories]
        one_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = run.recommend_batch(histories, args.k, batch_size=args.batch_size)
        batch_s = time.perf_counter() - t0
    same = np.mean([[r["item_id"] for r in a] == [r["item_id"] for r in b] for a, b in zip(one, batched, strict=True)])
    print(f"run: {run_dir}; {len(histories)} histories, k {args.k}, beam width {width}, batch {args.batch_size}, {args.threads} thread(s)")
    print(f"one at a time: {one_s:.2f} s; batched: {batch_s:.2f} s; identical top-{args.k}: {same:.3f}")
    print(f"users_per_s_one_at_a_time={len(histories) / one_s:.1f}")
    print(f"users_per_s_batched={len(histories) / batch_s:.1f}")
    print(f"predict_speedup={one_s / batch_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
