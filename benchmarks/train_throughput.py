"""Training throughput of the ``tiger`` generator at GRID's default size.

Runs the same step the shared loop runs (sliding-window batch -> next-SID cross-entropy ->
backward -> grad clip 1.0 -> AdamW) on synthetic data and reports samples/s and achieved
FLOP/s (counted with ``torch.utils.flop_counter.FlopCounterMode`` over one step) as a
fraction of a float32 matmul peak measured in the same process (best of several
2048 x 2048 ``torch.mm``). Last line: ``train_flop_utilization=<fraction>``.

    .venv/bin/python benchmarks/train_throughput.py [--threads 1] [--batch 256] [--steps 5]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from sidkit.data import leave_one_out, load_dataset
from sidkit.training import build_optimizer
from sidkit.types import SIDTable
from sidkit_grid.configs import TigerConfig
from sidkit_grid.generators.sequences import SIDVocab, training_windows
from sidkit_grid.generators.tiger import TigerGenerator
from torch.utils.flop_counter import FlopCounterMode


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 ``torch.mm`` FLOP/s of ``repeats`` runs."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up step)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {' '.join(sys.argv)}")

    split = leave_one_out(load_dataset("synthetic", n_users=2000, n_items=2000, seed=args.seed), max_len=20)
    codes = np.random.default_rng(args.seed).integers(0, 256, (split.n_items, 4))
    sids = SIDTable(codes, (256, 256, 256, 256))  # 3 x 256 + a de-dup level, as GRID's default
    gen = TigerGenerator(TigerConfig())
    gen.build(SIDVocab(sids.codebook_sizes), seed=args.seed)
    model = gen.model.train()
    cfg = gen.config.train
    optimizer = build_optimizer(model.parameters(), cfg.optim)
    windows = training_windows(split.train, gen.max_len)
    rng = np.random.default_rng(args.seed)

    def step() -> None:
        batch = gen.batch(sids, windows, rng.choice(len(windows), args.batch, replace=False))
        loss = gen.loss(batch, model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()

    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    step_s = float(np.median(times))
    peak = matmul_peak()
    achieved = flops / step_s
    params = sum(p.numel() for p in model.parameters())
    context = gen.batch(sids, windows, np.arange(min(len(windows), 4096)))[0]
    print(
        f"model: T5 4+4 layers, d_model 128, 6 heads x 64, d_ff 1024 ({params / 1e6:.2f}M parameters); "
        f"{len(windows)} sliding windows, mean context {float((context != 0).sum(1).float().mean()):.1f} tokens"
    )
    print(f"batch {args.batch}: {step_s:.3f}s/step (median of {args.steps}), {args.batch / step_s:.0f} samples/s")
    print(f"{flops / 1e9:.1f} GFLOP/step -> {achieved / 1e9:.1f} GFLOP/s; matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"train_flop_utilization={achieved / peak:.3f}")


if __name__ == "__main__":
    main()
