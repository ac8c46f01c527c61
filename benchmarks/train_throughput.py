"""Training throughput of the ``tiger`` generator at GRID's default size, in float32 and bf16.

Runs the same step the shared loop runs (sliding-window batch -> next-SID cross-entropy ->
backward -> grad clip 1.0 -> AdamW) on synthetic data. With ``--precision both`` (default)
an fp32 and a bf16 copy of the same initial model take turns on the same batches, so
``bf16_step_speedup`` (fp32 s/step / bf16 s/step, medians) compares like with like. The
bf16 step is the loop's ``precision = "bf16"``: the forward and loss under
``torch.autocast(dtype=torch.bfloat16)``, backward and AdamW on float32 weights.

Utilisation counts only useful FLOPs. A batch is left-padded to its longest context, so
about half of the FLOPs a step executes fall on padding. ``torch.utils.flop_counter``
gives the FLOPs of forward+backward of one row for each context length (on meta tensors:
shapes only, no arithmetic; without the attention mask, which does not change the count).
Useful FLOPs of a batch = the sum over its rows of that count at the row's own length,
i.e. the FLOPs of the same batch with every row trimmed to its real tokens; executed FLOPs
= rows x the count at the batch's width. A check per run compares the latter with a real
count of padded rows. Utilisation = useful FLOPs per step / median s/step / the matmul peak
of the same precision, measured in the same process (best of several 2048 x 2048
``torch.mm`` in float32 or bfloat16). Optimizer and element-wise work count no FLOPs.

Prints ``train_flop_utilization=`` (fp32), ``train_flop_utilization_bf16=``,
``bf16_step_speedup=``, ``all_positions_target_speedup=`` (training targets per second of
the GRID-size ``decoder-only`` with ``windows = "all"`` over ``"sliding"``: same data, same
initial weights, the modes taking turns) and ``tiger_all_positions_target_speedup=`` (the
same for ``tiger``, whose ``"all"`` is the item-causal encoder; its ``"sliding"`` side is
GRID's model). ``--windows-only`` measures just the last two.

    .venv/bin/python benchmarks/train_throughput.py [--threads 1] [--batch 256] [--steps 5]
        [--precision fp32|bf16|both] [--windows-only]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import time

import numpy as np
import torch
from sidkit.data import leave_one_out, load_dataset
from sidkit.training import build_optimizer
from sidkit.types import SIDTable
from sidkit_grid.configs import DecoderOnlyConfig, TigerConfig
from sidkit_grid.generators.decoder_only import DecoderOnlyGenerator
from sidkit_grid.generators.sequences import BOS, EOS, IGNORE, PAD, SIDVocab, training_windows
from sidkit_grid.generators.tiger import TigerGenerator
from torch.utils.flop_counter import FlopCounterMode

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best ``torch.mm`` FLOP/s in ``dtype`` of ``repeats`` runs."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def autocast(precision: str):
    """The context the loop runs ``loss_fn`` in for ``precision``."""
    if precision == "bf16":
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class FlopTable:
    """Forward+backward FLOPs of one training row per context length, counted once per
    length on a meta copy of the model (tiger's teacher-forced forward + cross-entropy)."""

    def __init__(self, model: torch.nn.Module, n_targets: int):
        self.meta, self.n_targets, self.per_row = copy.deepcopy(model).to("meta"), n_targets, {}

    def __call__(self, length: int) -> int:
        if length not in self.per_row:
            context = torch.full((1, length), EOS, dtype=torch.long, device="meta")
            targets = torch.zeros((1, self.n_targets), dtype=torch.long, device="meta")
            decoder_in = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
            with FlopCounterMode(display=False) as counter:
                logits = self.meta(input_ids=context, decoder_input_ids=decoder_in, use_cache=False).logits
                torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).backward()
            self.meta.zero_grad(set_to_none=True)
            self.per_row[length] = counter.get_total_flops()
        return self.per_row[length]

    def executed(self, context: torch.Tensor) -> int:
        """FLOPs of the padded batch as run."""
        return context.shape[0] * self(context.shape[1])

    def useful(self, context: torch.Tensor) -> int:
        """FLOPs of the same rows, each trimmed to its real (non-padding) tokens."""
        lengths, counts = torch.unique((context != PAD).sum(1), return_counts=True)
        return sum(int(c) * self(int(n)) for n, c in zip(lengths, counts, strict=True))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=5, help="timed steps per precision (after one warm-up step)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--windows-only", action="store_true", help="only the all-position speedups")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    precisions = ("fp32", "bf16") if args.precision == "both" else (args.precision,)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {' '.join(sys.argv)}")

    split = leave_one_out(load_dataset("synthetic", n_users=2000, n_items=2000, seed=args.seed), max_len=20)
    codes = np.random.default_rng(args.seed).integers(0, 256, (split.n_items, 4))
    sids = SIDTable(codes, (256, 256, 256, 256))  # 3 x 256 + a de-dup level, as GRID's default
    if args.windows_only:
        print("\n".join(all_positions_lines(split, sids, args)))
        return
    gen = TigerGenerator(TigerConfig())
    gen.build(SIDVocab(sids.codebook_sizes), seed=args.seed)
    cfg = gen.config.train
    windows = training_windows(split.train, gen.max_len)
    rng = np.random.default_rng(args.seed)
    draw = lambda: rng.choice(len(windows), args.batch, replace=False)  # noqa: E731
    batches = [gen.batch(sids, windows, draw()) for _ in range(args.steps + 1)]

    flops = FlopTable(gen.model, batches[0][1].shape[1])
    probe = (batches[0][0][:8], batches[0][1][:8])  # real count of padded rows == the table's
    with FlopCounterMode(display=False) as counter:
        gen.loss(probe, gen.model.train()).backward()
    gen.model.zero_grad(set_to_none=True)
    if counter.get_total_flops() != flops.executed(probe[0]):
        raise SystemExit(f"FLOP table: {flops.executed(probe[0])}, a real count: {counter.get_total_flops()}")

    runs = {}
    for precision in precisions:
        model = copy.deepcopy(gen.model).train()
        runs[precision] = (model, build_optimizer(model.parameters(), cfg.optim), [])

    def step(precision: str, batch) -> float:
        model, optimizer, _ = runs[precision]
        t = time.perf_counter()
        with autocast(precision):
            loss = gen.loss(batch, model)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        return time.perf_counter() - t

    for precision in precisions:
        step(precision, batches[0])  # warm-up
    for batch in batches[1:]:  # the precisions take turns, so load on the machine hits both alike
        for precision in precisions:
            runs[precision][2].append(step(precision, batch))

    executed = float(np.mean([flops.executed(b[0]) for b in batches[1:]]))
    useful = float(np.mean([flops.useful(b[0]) for b in batches[1:]]))
    real_tokens = float(np.mean([float((b[0] != PAD).float().mean()) for b in batches[1:]]))
    params = sum(p.numel() for p in gen.model.parameters())
    print(
        f"model: T5 4+4 layers, d_model 128, 6 heads x 64, d_ff 1024 ({params / 1e6:.2f}M parameters); "
        f"{len(windows)} sliding windows; batch {args.batch}, {args.steps} timed steps per precision"
    )
    print(
        f"padding: {real_tokens:.1%} of context tokens are real; {executed / 1e9:.1f} GFLOP/step executed, "
        f"{useful / 1e9:.1f} useful ({1 - useful / executed:.1%} on padding)"
    )
    medians, results = {}, []
    for precision in precisions:
        medians[precision] = step_s = float(np.median(runs[precision][2]))
        peak = matmul_peak(DTYPES[precision])
        achieved = useful / step_s
        print(
            f"{precision}: {step_s:.3f}s/step (median), {args.batch / step_s:.0f} samples/s; useful "
            f"{achieved / 1e9:.1f} GFLOP/s; {precision} matmul peak {peak / 1e9:.1f} GFLOP/s"
        )
        key = "train_flop_utilization" + ("" if precision == "fp32" else "_bf16")
        results.append(f"{key}={achieved / peak:.3f}")
    if len(medians) == 2:
        results.append(f"bf16_step_speedup={medians['fp32'] / medians['bf16']:.3f}")
    results += all_positions_lines(split, sids, args)
    print("\n".join(results))


def all_positions_lines(split, sids: SIDTable, args) -> list[str]:
    return [
        f"all_positions_target_speedup={all_positions_speedup(split, sids, args, 'decoder-only'):.2f}",
        f"tiger_all_positions_target_speedup={all_positions_speedup(split, sids, args, 'tiger'):.2f}",
    ]


def all_positions_speedup(split, sids: SIDTable, args, name: str) -> float:
    """Training targets per second of generator ``name`` (GRID size, fp32) with
    ``windows = "all"`` over ``"sliding"``: same data, ``args.batch`` samples a step, the
    two modes taking turns step by step (``decoder-only``: the same initial weights;
    ``tiger``: the same seed, the "all" model having its causal encoder's recency bias)."""
    runs = {}
    for mode in ("sliding", "all"):
        gen = (
            DecoderOnlyGenerator(DecoderOnlyConfig(windows=mode))
            if name == "decoder-only"
            else TigerGenerator(TigerConfig(windows=mode))
        )
        gen.build(SIDVocab(sids.codebook_sizes), seed=args.seed)
        samples = gen.training_samples(split.train)
        rng = np.random.default_rng(args.seed)
        batches = [gen.batch(sids, samples, rng.choice(len(samples), args.batch, replace=False)) for _ in range(args.steps + 1)]
        model = gen.model.train()
        runs[mode] = (gen, model, build_optimizer(model.parameters(), gen.config.train.optim), batches, [], [])

    def step(mode: str, batch) -> float:
        gen, model, optimizer = runs[mode][:3]
        t = time.perf_counter()
        loss = gen.loss(batch, model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return time.perf_counter() - t

    for i in range(args.steps + 1):
        for mode, (_gen, _, _, batches, times, targets) in runs.items():
            seconds = step(mode, batches[i])
            if i:  # the first step of each mode is a warm-up
                times.append(seconds)
                labels = batches[i]["labels"] if mode == "all" else batches[i][1]
                targets.append(int((labels != IGNORE).sum()) // sids.n_levels)
    rate = {mode: sum(r[5]) / sum(r[4]) for mode, r in runs.items()}
    for mode, r in runs.items():
        print(
            f"{name} windows={mode}: {np.median(r[4]):.3f}s/step (median), {rate[mode]:.0f} targets/s "
            f"({np.mean(r[5]):.0f} targets a step of {args.batch} samples)"
        )
    return rate["all"] / rate["sliding"]


if __name__ == "__main__":
    main()
