"""What subnormal floats cost a trained run's ranking on CPU, and where they sit.

Loads a finished run directory (``sidkit.serving.load_run``), then ranks ``--users`` random
histories of ``--length`` catalog items (top 10, seed 0) with the CPU's flush-to-zero mode
off and on, the two taking turns ``--reps`` times (one torch thread, so the mode reaches
every thread that computes). It also lists every parameter tensor that holds subnormal
values (below 1.2e-38 in magnitude, not zero) and, for GPT-2 attention blocks, the norms of
the query, key and value parts of ``c_attn`` (a block whose query and key weights are zero
attends uniformly to every visible position).

The last line is ``flush_denormal_rank_speedup=`` (median seconds off / on).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/denormals.py runs/beauty-fast-intrr
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="a finished sidkit run directory")
    p.add_argument("--users", type=int, default=256, help="random histories ranked per timing")
    p.add_argument("--length", type=int, default=20, help="items per history")
    p.add_argument("--reps", type=int, default=2, help="timings of each mode, taking turns")
    return p.parse_args(argv)


def weight_report(model) -> list[str]:
    """Lines for the parameters holding subnormal values, and GPT-2 ``c_attn`` q/k/v norms."""
    import torch

    tiny = torch.finfo(torch.float32).tiny
    lines = []
    for name, p in model.named_parameters():
        p = p.detach().float()
        n_sub = int(((p.abs() < tiny) & (p != 0)).sum())
        if n_sub:
            lines.append(f"  {name} {tuple(p.shape)}: {n_sub:,} of {p.numel():,} values subnormal")
        if name.endswith("attn.c_attn.weight"):
            q, k, v = p.chunk(3, dim=1)
            lines.append(f"  {name}: |W_q| {q.norm():.3g}, |W_k| {k.norm():.3g}, |W_v| {v.norm():.3g}")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(False)
    from sidkit.serving import load_run

    run = load_run(args.run_dir)  # load_run turns flushing on: the timings below set each mode
    torch.set_flush_denormal(False)
    print(f"{args.run_dir}: generator {type(run.generator).__name__}, {len(run.item_ids):,} items")
    print("\n".join(weight_report(run.generator.model)) or "  no subnormal parameters")
    rng = np.random.default_rng(0)
    histories = [list(rng.integers(0, len(run.item_ids), args.length)) for _ in range(args.users)]
    run.rank_indices(histories[:8], 10)  # warm-up (builds caches)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.reps):
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            start = time.perf_counter()
            run.rank_indices(histories, 10)
            times[flush].append(time.perf_counter() - start)
    for flush, ts in times.items():
        print(f"rank {args.users} histories, flush-to-zero {'on ' if flush else 'off'}: median {statistics.median(ts):.2f} s")
    print(f"flush_denormal_rank_speedup={statistics.median(times[False]) / statistics.median(times[True]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
