"""IntRR against the flattened decoder-only generator: training throughput, peak memory and
constrained decoding latency, both models measured in one run.

Setting (the paper's efficiency comparison): histories of N = 30 items, SIDs of L = 4
levels (3 x 128 random codes + the de-dup digit) for ``--items`` items, and the two
generators at the same backbone sizes (GPT-2 blocks: ``--d-model``, ``--layers``,
``--heads``, ``--d-ff``). ``intrr`` reads N + 1 positions (one per item and the start
vector), ``decoder-only`` 1 + N · L tokens.

- **Training**: the step the shared loop runs (the model's batch → loss → backward →
  gradient clipping 1.0 → Adam), on ``--batch`` samples whose histories are all N items
  long, ``--windows`` samples (``sliding``: a sample is a history and its next item, as in
  the paper; ``all``: a window of N + 1 items trains N targets). The two models take turns
  on the same batches; samples/s = batch / median step time.
- **Peak memory**: on CUDA ``torch.cuda.max_memory_allocated`` over one model's training
  steps; on CPU the peak RSS of a fresh process per model that builds it and runs the
  steps (``VmHWM``; also printed: the peak minus the RSS before the first step).
- **Decoding**: grid's ``beam`` decoder (constrained) ranking 256 histories of N items at
  every ``--widths`` W (top ``min(W, 10)``), median of ``--reps`` runs after a warm-up (the
  warm-up also builds the prefix index and intrr's item table, which are cached).

The last lines are ``intrr_train_speedup=`` (intrr samples/s / decoder-only's),
``intrr_peak_memory_ratio=`` (intrr / decoder-only), ``intrr_decode_speedup_w10=`` and
``intrr_decode_speedup_w50=`` (decoder-only latency / intrr latency).

GPU (the paper's sizes)::

    .venv/bin/python benchmarks/intrr_speed.py --device cuda --precision bf16

CPU (2 cores shared with other jobs: smaller batch)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/intrr_speed.py --threads 1 --batch 64 --steps 5

Smoke test (seconds)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/intrr_speed.py --threads 1 --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("decoder-only", "intrr")
QUICK = {"items": 2000, "d_model": 32, "layers": 1, "heads": 2, "d_ff": 64, "batch": 16, "steps": 2,
         "histories": 32, "widths": [10, 50], "reps": 1}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, auto")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="training autocast (default fp32)")
    p.add_argument("--items", type=int, default=12101, help="catalog size (default: Amazon Beauty's 12,101)")
    p.add_argument("--max-len", type=int, default=30, help="history items N (default 30)")
    p.add_argument("--codebook", type=int, default=128, help="codes per level (3 levels + the de-dup digit)")
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--batch", type=int, default=512, help="training samples per step (default: the paper's 512)")
    p.add_argument("--steps", type=int, default=5, help="timed training steps per model (after one warm-up)")
    p.add_argument("--windows", choices=("sliding", "all"), default="sliding")
    p.add_argument("--histories", type=int, default=256, help="histories ranked per decoding run")
    p.add_argument("--widths", type=int, nargs="+", default=[10, 20, 30, 40, 50])
    p.add_argument("--reps", type=int, default=3, help="timed decoding runs per model and width")
    p.add_argument("--quick", action="store_true", help="smoke-test sizes: " + json.dumps(QUICK))
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    p.add_argument("--memory-child", choices=MODELS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


# -- setting ---------------------------------------------------------------------------------


def ml100k_setting(threads: int, batch: int, precision: str, max_len: int = 30) -> argparse.Namespace:
    """This script's arguments at ``examples/ml100k-intrr.toml``'s sizes (1,682 items, d 128,
    4 layers, 8 heads, d_ff 512, ``windows = "all"``): the setting of the per-option step
    benchmarks (``attention_speed.py``, ``compile_speed.py``)."""
    return parse_args([
        "--threads", str(threads), "--batch", str(batch), "--d-model", "128", "--layers", "4", "--heads", "8",
        "--d-ff", "512", "--windows", "all", "--precision", precision, "--items", "1682", "--max-len", str(max_len),
    ])  # fmt: skip


def setting(args: argparse.Namespace, torch) -> tuple[Any, Any]:
    """``(sids, training sequences)``: random SIDs with the de-dup digit, and sequences of
    ``max_len + 1`` random items (every sample has a full history)."""
    from sidkit.types import Ragged
    from sidkit_grid.api import deduplicate

    rng = np.random.default_rng(0)
    raw = rng.integers(0, args.codebook, (args.items, 3))
    sids = deduplicate(raw, args.codebook, "digit")
    n_seq = max(args.batch, args.histories)
    train = Ragged.from_lists(list(rng.integers(0, args.items, (n_seq, args.max_len + 1))))
    return sids, train


def build(model: str, sids, args: argparse.Namespace, torch):
    """The generator through the registry, seeded, on the device, in train mode."""
    from sidkit.registry import get_registry
    from sidkit_grid.api import SIDVocab

    spec = get_registry().get("generator", model)
    common = {"max_len": args.max_len, "d_model": args.d_model, "num_layers": args.layers,
              "num_heads": args.heads, "d_ff": args.d_ff, "windows": args.windows}
    gen = spec.build(spec.config(**common))
    if model == "intrr":
        gen.build(sids, seed=0)
    else:
        gen.build(SIDVocab(sids.codebook_sizes), seed=0)
    gen.to(args.device)
    return gen


class Trainer:
    """One model's training step on fixed batches (the shared loop's step); ``shape`` is
    the ``[B, T]`` the backbone reads."""

    def __init__(self, model: str, gen, sids, train, args, torch):
        from sidkit.training import OptimConfig, build_optimizer

        self.torch, self.args, self.gen = torch, args, gen
        net = gen.model
        if model == "intrr":
            from sidkit_intrr.batches import make_batch, training_samples

            samples = training_samples(train, args.max_len, args.windows)
            rows = np.flatnonzero(samples.lengths == args.max_len)[: args.batch]
            self.batch = make_batch(samples, sids.codes, rows)
            self.loss = lambda: net(**self.batch)
            self.shape = tuple(self.batch["slots"].shape)
        else:
            windows = gen.training_samples(train)
            rows = np.flatnonzero(np.asarray(windows.lengths) == (args.max_len if args.windows == "sliding"
                                                                  else args.max_len + 1))[: args.batch]
            self.batch = gen.batch(sids, windows, rows)
            self.loss = lambda: gen.loss(self.batch, net)
            if isinstance(self.batch, dict):
                self.shape = tuple(self.batch["inputs"].shape)
            else:  # the model reads the context and the target tokens but the last
                context, targets = self.batch
                self.shape = (context.shape[0], context.shape[1] + targets.shape[1] - 1)
        self.batch = to_device(self.batch, gen.device)
        self.n = len(rows)
        self.net = net.train()
        self.opt = build_optimizer(net.parameters(), OptimConfig(name="adam", lr=1e-3, weight_decay=1e-4))

    def step(self) -> float:
        torch = self.torch
        sync(torch, self.args.device)
        t = time.perf_counter()
        with torch.autocast(device_type=self.gen.device.type, dtype=torch.bfloat16,
                            enabled=self.args.precision == "bf16"):
            loss = self.loss().float()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        sync(torch, self.args.device)
        return time.perf_counter() - t


def to_device(batch, device):
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return tuple(v.to(device) for v in batch)


def sync(torch, device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def rss_mb(field: str = "VmRSS") -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process from /proc, in MiB; 0 where
    unavailable. Not ``ru_maxrss``: Linux keeps that across exec, so a child started by a
    large parent reports the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


# -- measurements ----------------------------------------------------------------------------


def training(trainers: dict[str, Trainer], steps: int) -> dict[str, dict[str, float]]:
    """Median step time and samples/s per model; the models take turns."""
    for t in trainers.values():
        t.step()  # warm-up
    times: dict[str, list[float]] = {m: [] for m in trainers}
    for _ in range(steps):
        for m, t in trainers.items():
            times[m].append(t.step())
    return {m: {"median_step_s": statistics.median(ts), "samples_per_s": trainers[m].n / statistics.median(ts),
                "batch": trainers[m].n} for m, ts in times.items()}


def gpu_memory(model: str, sids, train, args, torch) -> float:
    """Peak allocated CUDA memory (GiB) of building ``model`` and two training steps."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    trainer = Trainer(model, build(model, sids, args, torch), sids, train, args, torch)
    trainer.step()
    trainer.step()
    peak = torch.cuda.max_memory_allocated() / 2**30
    del trainer
    torch.cuda.empty_cache()
    return peak


def memory_child(args: argparse.Namespace) -> None:
    """In a fresh process: build one model, run two training steps, print RSS figures."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    sids, train = setting(args, torch)
    trainer = Trainer(args.memory_child, build(args.memory_child, sids, args, torch), sids, train, args, torch)
    before = rss_mb()
    trainer.step()
    trainer.step()
    peak = rss_mb("VmHWM")
    print(json.dumps({"peak_rss_mb": peak, "peak_over_start_mb": peak - before}))


def cpu_memory(model: str, argv: list[str]) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--memory-child", model]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def decoding(gens: dict[str, Any], sids, args, torch) -> dict[str, dict[int, float]]:
    """Median seconds of a constrained ``beam`` ranking of ``--histories`` histories per width."""
    from sidkit.registry import get_registry
    from sidkit.types import Ragged

    spec = get_registry().get("decoder", "beam")
    rng = np.random.default_rng(1)
    histories = Ragged.from_lists(list(rng.integers(0, args.items, (args.histories, args.max_len))))
    out: dict[str, dict[int, float]] = {m: {} for m in gens}
    for width in args.widths:
        decoder = spec.build(spec.config(beam_width=width, batch_size=args.histories))
        for gen in gens.values():
            gen.model.eval()
            decoder.rank(gen, sids, histories, min(width, 10), None)  # warm-up: index, item table
        times: dict[str, list[float]] = {m: [] for m in gens}
        for _ in range(args.reps):
            for m, gen in gens.items():
                sync(torch, args.device)
                t = time.perf_counter()
                decoder.rank(gen, sids, histories, min(width, 10), None)
                sync(torch, args.device)
                times[m].append(time.perf_counter() - t)
        for m in gens:
            out[m][width] = statistics.median(times[m])
    return out


def ratio(a: float | None, b: float | None) -> float:
    return float("nan") if not a or not b else a / b


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return 0
    import torch
    from sidkit.training import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = str(resolve_device(args.device))
    sids, train = setting(args, torch)
    gens = {m: build(m, sids, args, torch) for m in MODELS}
    sizes = {m: sum(p.numel() for p in g.model.parameters()) for m, g in gens.items()}
    trainers = {m: Trainer(m, gens[m], sids, train, args, torch) for m in MODELS}
    shapes = {m: t.shape for m, t in trainers.items()}
    train_res = training(trainers, args.steps)
    del trainers
    if args.device.startswith("cuda"):
        memory = {m: {"peak_gib": gpu_memory(m, sids, train, args, torch)} for m in MODELS}
        mem_key = "peak_gib"
    else:
        parent = [a for a in argv if a != "--quick"] + (["--quick"] if args.quick else [])
        memory = {m: cpu_memory(m, parent) for m in MODELS}
        mem_key = "peak_rss_mb"
    decode = decoding(gens, sids, args, torch)

    head = ["model", "parameters", "train input [B, T]", "samples/s", "median step (s)",
            "peak memory" + (" (GiB)" if mem_key == "peak_gib" else " RSS (MiB; over the pre-step RSS)"),
            *(f"decode W={w} (s)" for w in args.widths)]
    lines = [[m, f"{sizes[m]:,}", str(list(shapes[m])), f"{train_res[m]['samples_per_s']:.1f}",
              f"{train_res[m]['median_step_s']:.3f}",
              f"{memory[m][mem_key]:.2f}" + (f" ({memory[m]['peak_over_start_mb']:+.1f})" if mem_key != "peak_gib" else ""),
              *(f"{decode[m][w]:.3f}" for w in args.widths)] for m in MODELS]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for line in lines:
        print("| " + " | ".join(line) + " |")
    result = {
        "setting": {k: v for k, v in vars(args).items() if k not in ("out", "memory_child")},
        "torch": torch.__version__, "threads": torch.get_num_threads(), "parameters": sizes,
        "train": train_res, "memory": memory, "decode_s": decode,
        "intrr_train_speedup": ratio(train_res["intrr"]["samples_per_s"], train_res["decoder-only"]["samples_per_s"]),
        "intrr_peak_memory_ratio": ratio(memory["intrr"][mem_key], memory["decoder-only"][mem_key]),
        "intrr_decode_speedup": {w: ratio(decode["decoder-only"][w], decode["intrr"][w]) for w in args.widths},
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    print(f"intrr_train_speedup={result['intrr_train_speedup']:.3f}")
    print(f"intrr_peak_memory_ratio={result['intrr_peak_memory_ratio']:.3f}")
    for w in (10, 50):
        print(f"intrr_decode_speedup_w{w}={result['intrr_decode_speedup'].get(w, float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
