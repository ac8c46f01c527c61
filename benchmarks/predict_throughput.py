"""Batch inference throughput: ``LoadedRun.recommend_batch`` (what ``sidkit predict`` runs)
against one ``recommend`` call per history, on the same run and histories, in one process.

Without ``--run`` it first trains the embedded demo pipeline (``examples/synthetic-fast.toml``,
decoder-only + constrained beam search) for ``--epochs`` epochs into a temporary folder; the
model's quality does not matter here, only the decoding work. The histories are the run's
test histories. One-at-a-time ``recommend`` runs the run's decoder as trained (fp32); the
batched path runs in fp32 and with ``decoder.precision = "bf16"`` (``sidkit predict --set
precision=bf16``). Prints ``users_per_s_one_at_a_time=``, ``users_per_s_batched=`` (fp32),
``users_per_s_batched_bf16=``, the two precisions' test Recall@10 and top-10 agreement,
``predict_speedup_fp32=`` and, last, ``predict_speedup=`` (batched bf16 / one at a time
fp32; the goal is >= 20 at beam width 20).

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

    import attrs
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
        targets = [{run.item_ids[i] for i in split.test.targets[r]} for r in rows]
        fp32_decoder = run.decoder
        bf16_decoder = type(fp32_decoder)(attrs.evolve(fp32_decoder.config, precision="bf16"))

        def batched(decoder):
            run.decoder = decoder
            run.recommend_batch(histories[:8], args.k)  # warm-up: allocations, first-call costs
            t0 = time.perf_counter()
            out = run.recommend_batch(histories, args.k, batch_size=args.batch_size)
            return out, time.perf_counter() - t0

        run.recommend_batch(histories[:8], args.k)
        t0 = time.perf_counter()
        one = [run.recommend(h, args.k) for h in histories]
        one_s = time.perf_counter() - t0
        fp32, fp32_s = batched(fp32_decoder)
        bf16, bf16_s = batched(bf16_decoder)

    def ids(recs):
        return [r["item_id"] for r in recs]

    def recall(lists):
        return np.mean([len(t & set(ids(r))) / len(t) for t, r in zip(targets, lists, strict=True)])

    same = np.mean([ids(a) == ids(b) for a, b in zip(one, fp32, strict=True)])
    agree = np.mean([len(set(ids(a)) & set(ids(b))) / max(1, len(ids(a))) for a, b in zip(fp32, bf16, strict=True)])
    n = len(histories)
    print(f"run: {run_dir}; {n} histories, k {args.k}, beam width {width}, batch {args.batch_size}, {args.threads} thread(s)")
    print(f"one at a time: {one_s:.2f} s; batched fp32: {fp32_s:.2f} s (identical top-{args.k}: {same:.3f}); batched bf16: {bf16_s:.2f} s")
    print(f"recall@{args.k}_fp32={recall(fp32):.4f}")
    print(f"recall@{args.k}_bf16={recall(bf16):.4f}")
    print(f"bf16_top{args.k}_agreement={agree:.4f}")
    print(f"users_per_s_one_at_a_time={n / one_s:.1f}")
    print(f"users_per_s_batched={n / fp32_s:.1f}")
    print(f"users_per_s_batched_bf16={n / bf16_s:.1f}")
    print(f"predict_speedup_fp32={one_s / fp32_s:.2f}")
    print(f"predict_speedup={one_s / bf16_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
