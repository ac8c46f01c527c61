"""What the Adam implementation costs a generator's training step on CPU.

torch picks, for CPU parameters, the per-tensor ``for-loop`` Adam (about ten elementwise
passes over every tensor); ``foreach`` batches those passes over tensors, and ``fused`` does
the whole update in one pass per tensor. ``sidkit.training.build_optimizer`` uses ``fused``
where the parameters allow it. This script measures, for ``intrr`` and ``decoder-only`` at
``examples/beauty-fast*.toml``'s sizes (12,101 items: 3 x 256 random codes + the de-dup
digit, d 128, 4 layers, 4 heads, d_ff 512, last 20 items, ``windows = "all"``, batch 64
windows, bf16 autocast):

- ``optimizer.step()`` alone, each implementation on copies of the same parameters and
  gradients, taking turns;
- the whole training step (``benchmarks/intrr_speed.py``'s: batch -> loss -> backward ->
  clipping 1.0 -> Adam) with ``for-loop`` and with ``fused`` Adam, two copies of the same
  initial model taking turns on the same batch;
- the largest difference between the parameters after ``--check-steps`` updates of the
  ``for-loop`` and ``fused`` Adam from the same start and gradients (the same update up to
  float rounding).

The last lines are ``<model>_adam_fused_speedup=`` (for-loop / fused ``step()``, medians)
and ``<model>_train_step_speedup=`` (for-loop / fused whole step, medians).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/optimizer_step.py
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intrr_speed  # noqa: E402

IMPLEMENTATIONS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=intrr_speed.MODELS, default=list(intrr_speed.MODELS))
    p.add_argument("--steps", type=int, default=5, help="timed steps of each variant, taking turns")
    p.add_argument("--check-steps", type=int, default=20, help="updates compared for-loop vs fused")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test; the numbers mean nothing)")
    return p.parse_args(argv)


def beauty_setting(args: argparse.Namespace) -> argparse.Namespace:
    """``intrr_speed``'s arguments at the beauty-fast sizes (or its ``--quick`` sizes)."""
    if args.quick:
        return intrr_speed.parse_args(["--threads", str(args.threads), "--quick", "--windows", "all"])
    return intrr_speed.parse_args([
        "--threads", str(args.threads), "--batch", "64", "--d-model", "128", "--layers", "4", "--heads", "4",
        "--d-ff", "512", "--windows", "all", "--precision", "bf16", "--items", "12101", "--codebook", "256",
        "--max-len", "20",
    ])  # fmt: skip


def adam(params, torch, implementation: str):
    return torch.optim.Adam(params, lr=1e-3, weight_decay=1e-4, **IMPLEMENTATIONS[implementation])


def optimizer_steps(net, torch, steps: int) -> dict[str, float]:
    """Median ``step()`` seconds per implementation on copies of ``net``'s parameters with
    the same random gradients."""
    gen = torch.Generator().manual_seed(0)
    base = [p.detach() for p in net.parameters()]
    grads = [torch.randn(p.shape, generator=gen) * 1e-3 for p in base]
    opts = {}
    for name in IMPLEMENTATIONS:
        params = [torch.nn.Parameter(p.clone()) for p in base]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opts[name] = adam(params, torch, name)
        opts[name].step()  # warm-up: creates the state
    times: dict[str, list[float]] = {name: [] for name in opts}
    for _ in range(steps):
        for name, opt in opts.items():
            t = time.perf_counter()
            opt.step()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def largest_difference(net, torch, steps: int) -> float:
    """Max |for-loop − fused| over the parameters after ``steps`` updates with the same
    random gradients from the same start."""
    gen = torch.Generator().manual_seed(1)
    base = [p.detach() for p in net.parameters()]
    copies = {name: [torch.nn.Parameter(p.clone()) for p in base] for name in ("for-loop", "fused")}
    opts = {name: adam(params, torch, name) for name, params in copies.items()}
    for _ in range(steps):
        grads = [torch.randn(p.shape, generator=gen) * 1e-3 for p in base]
        for name, opt in opts.items():
            for p, g in zip(copies[name], grads, strict=True):
                p.grad = g.clone()
            opt.step()
    return max(float((a - b).detach().abs().max()) for a, b in zip(copies["for-loop"], copies["fused"], strict=True))


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    setting = beauty_setting(args)
    sids, train = intrr_speed.setting(setting, torch)
    lines = []
    for model in args.models:
        gen = intrr_speed.build(model, sids, setting, torch)
        n_params = sum(p.numel() for p in gen.model.parameters())
        opt_times = optimizer_steps(gen.model, torch, args.steps)
        diff = largest_difference(gen.model, torch, args.check_steps)
        trainers = {}
        for name in ("for-loop", "fused"):
            copy_ = copy.deepcopy(gen)
            trainer = intrr_speed.Trainer(model, copy_, sids, train, setting, torch)
            trainer.opt = adam(copy_.model.parameters(), torch, name)
            trainers[name] = trainer
        res = intrr_speed.training(trainers, args.steps)
        step = {name: r["median_step_s"] for name, r in res.items()}
        print(f"{model}: {n_params:,} parameters in {len(list(gen.model.parameters()))} tensors, "
              f"backbone input {trainers['fused'].shape}, {args.threads} thread(s)")
        for name, s in opt_times.items():
            print(f"  Adam step(), {name}: {s * 1e3:.1f} ms")
        for name, s in step.items():
            print(f"  training step with {name} Adam: {s:.3f} s ({res[name]['samples_per_s']:.1f} samples/s)")
        print(f"  largest |for-loop - fused| after {args.check_steps} updates: {diff:.2e}")
        key = model.replace("-", "_")
        lines.append(f"{key}_adam_fused_speedup={opt_times['for-loop'] / opt_times['fused']:.3f}")
        lines.append(f"{key}_train_step_speedup={step['for-loop'] / step['fused']:.3f}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
