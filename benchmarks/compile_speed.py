"""Does ``torch.compile`` speed up a generator's training step here? Eager against compiled.

The step is ``benchmarks/intrr_speed.py``'s (the shared loop's: the model's batch -> loss
-> backward -> clipping 1.0 -> Adam) at ``examples/ml100k-intrr.toml``'s sizes by default:
N = 30 history items, L = 4 (3 x 128 random codes + the de-dup digit), 1,682 items,
d 128, 4 layers, 8 heads, d_ff 512, ``windows = "all"``. Two copies of the same initial
model: one eager, one wrapped in ``torch.compile`` (inductor); the first compiled step
(compilation) is timed apart, then the two take turns on the same batch and the medians
are compared.

The last lines are ``compile_seconds=`` (the first compiled step) and
``compile_step_speedup=`` (eager s/step / compiled s/step; above 1 means compiled is faster).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compile_speed.py --model decoder-only --precision bf16
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intrr_speed  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=intrr_speed.MODELS, default="decoder-only")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="timed steps of each variant, taking turns")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", default=None, help="torch.compile mode (default: inductor's default)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    setting = intrr_speed.ml100k_setting(args.threads, args.batch, args.precision)
    sids, train = intrr_speed.setting(setting, torch)
    eager_gen = intrr_speed.build(args.model, sids, setting, torch)
    compiled_gen = copy.deepcopy(eager_gen)
    trainers = {
        name: intrr_speed.Trainer(args.model, gen, sids, train, setting, torch)
        for name, gen in (("eager", eager_gen), ("compiled", compiled_gen))
    }
    compiled = torch.compile(compiled_gen.model, mode=args.mode)
    tr = trainers["compiled"]
    if args.model == "intrr":
        tr.loss = lambda: compiled(**tr.batch)
    else:
        tr.loss = lambda: compiled_gen.loss(tr.batch, compiled)
    t = time.perf_counter()
    tr.step()  # compiles
    compile_seconds = time.perf_counter() - t
    res = intrr_speed.training(trainers, args.steps)  # a warm-up each, then the two take turns
    print(
        f"{args.model}, {args.precision}, input {trainers['eager'].shape}, batch {args.batch}, {args.threads} thread(s)"
    )
    for name, r in res.items():
        print(f"{name}: median {r['median_step_s']:.3f} s/step, {r['samples_per_s']:.1f} samples/s")
    print(f"compile_seconds={compile_seconds:.1f}")
    print(f"compile_step_speedup={res['eager']['median_step_s'] / res['compiled']['median_step_s']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
