"""What the attention dropout costs a GPT-2 generator's bf16 training step on CPU.

The step is ``benchmarks/intrr_speed.py``'s (the shared loop's: batch -> loss -> backward ->
clipping 1.0 -> Adam) under bf16 autocast, at ``examples/ml100k-intrr.toml``'s sizes by
default (N = 30 history items, L = 4: 3 x 128 random codes + the de-dup digit, 1,682
items, d 128, 4 layers, 8 heads, d_ff 512, ``windows = "all"``). Three copies of the same
initial model take turns on the same batch:

- ``dropout``: ``attn_dropout`` unset (the attention probabilities get ``dropout``, as every
  run before the option): torch's unfused attention (bmm, softmax, a Bernoulli mask);
- ``no-dropout``: ``attn_dropout = 0`` with sidkit's attention (float32 fused SDPA,
  :mod:`sidkit_grid.generators.attention`);
- ``no-dropout, bf16 sdpa``: ``attn_dropout = 0`` with transformers' plain ``sdpa`` (bf16
  inputs: the unfused path without the mask), to show where the gain comes from.

The last lines are ``attn_dropout0_step_speedup=`` (``dropout`` s/step / ``no-dropout``
s/step, medians) and ``fast_sdpa_step_speedup=`` (``no-dropout, bf16 sdpa`` / ``no-dropout``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/attention_speed.py --model decoder-only
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/attention_speed.py --model intrr
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intrr_speed  # noqa: E402

VARIANTS = ("dropout", "no-dropout", "no-dropout, bf16 sdpa")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=intrr_speed.MODELS, default="decoder-only")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-len", type=int, default=30, help="history items N")
    p.add_argument("--steps", type=int, default=5, help="timed steps of each variant, taking turns")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    setting = intrr_speed.ml100k_setting(args.threads, args.batch, "bf16", args.max_len)
    sids, train = intrr_speed.setting(setting, torch)
    trainers = {}
    for variant in VARIANTS:
        gen = intrr_speed.build(args.model, sids, setting, torch)  # the same seed: the same initial weights
        for module in gen.model.modules():
            if variant != "dropout" and hasattr(module, "attn_dropout"):  # GPT-2's attention blocks
                module.attn_dropout.p = 0.0
            if variant.endswith("bf16 sdpa") and hasattr(module, "config"):
                module.config._attn_implementation = "sdpa"
        trainers[variant] = intrr_speed.Trainer(args.model, gen, sids, train, setting, torch)
    res = intrr_speed.training(trainers, args.steps)  # a warm-up each, then the variants take turns
    med = {v: r["median_step_s"] for v, r in res.items()}
    print(
        f"{args.model}, bf16, backbone input {trainers['dropout'].shape}, batch {args.batch}, {args.threads} thread(s)"
    )
    for variant, r in res.items():
        print(f"{variant}: median {r['median_step_s']:.3f} s/step, {r['samples_per_s']:.1f} samples/s")
    print(f"attn_dropout0_step_speedup={med['dropout'] / med['no-dropout']:.3f}")
    print(f"fast_sdpa_step_speedup={med['no-dropout, bf16 sdpa'] / med['no-dropout']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
