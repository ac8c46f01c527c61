"""Timing of sidkit-align's alignment: co-occurrence counts, greedy and Hungarian matching,
and a whole ``align`` update, on a planted refresh.

The old table has ``--items`` random SIDs of ``--levels`` × ``--vocab``; the refreshed one
relabels every level by a random permutation and re-draws a ``--noise`` fraction of the
items at random. Prints a markdown table with the seconds of each step and how much of the
old table the alignment recovers (``agreement``: fraction of (item, level) tokens equal to
the old ones; ``clean exact``: fraction of the non-re-drawn items whose whole SID is
recovered; 1.0 means the planted permutations were found exactly).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/align_timing.py [--items 1000000] [--noise 0.1] [--repeat 3]

Columns: ``matching`` = the matching alone on prebuilt W (all levels); ``align_codes`` = W,
matching, completion and rewrite of every level; ``update()`` = the whole ``align`` update
(row checks, overlap, alignment, collision count, output table); ``report seconds`` = the
``seconds`` the update reports (the alignment: what ``align_codes`` does).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {value}")
    return value


def planted_tables(items: int, levels: int, vocab: int, noise: float, seed: int):
    """``(old, new, noisy)``: random old codes, per-level permuted new codes with a
    ``noise`` fraction of rows re-drawn, and the mask of those rows."""
    rng = np.random.default_rng(seed)
    old = rng.integers(0, vocab, (items, levels), dtype=np.int64)
    new = np.empty_like(old)
    for level in range(levels):
        new[:, level] = rng.permutation(vocab)[old[:, level]]
    noisy = rng.random(items) < noise
    new[noisy] = rng.integers(0, vocab, (int(noisy.sum()), levels), dtype=np.int64)
    return old, new, noisy


def timed(fn, *args, repeat: int = 1):
    """``(result, seconds)``: the best wall time of ``repeat`` calls (``time.perf_counter``)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return out, best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=positive_int, default=1_000_000)
    parser.add_argument("--vocab", type=positive_int, default=512)
    parser.add_argument("--levels", type=positive_int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=fraction, default=0.1, help="fraction of items re-drawn at random")
    parser.add_argument("--repeat", type=positive_int, default=3, help="timed calls per step; the best is reported")
    args = parser.parse_args(argv)

    import scipy.optimize  # noqa: F401  imported before any timing
    from sidkit.types import SIDTable
    from sidkit_align.align import align_codes
    from sidkit_align.configs import AlignConfig
    from sidkit_align.matching import cooccurrence, match_greedy, match_hungarian
    from sidkit_align.updaters import AlignUpdater

    (old, new, noisy), build_s = timed(planted_tables, args.items, args.levels, args.vocab, args.noise, args.seed)
    rows = np.arange(args.items)
    sizes = (args.vocab,) * args.levels

    w_s = greedy_s = hungarian_s = 0.0
    for level in range(args.levels):
        W, s = timed(cooccurrence, new[:, level], old[:, level], args.vocab, args.vocab, repeat=args.repeat)
        w_s += s
        greedy_s += timed(match_greedy, W, repeat=args.repeat)[1]
        hungarian_s += timed(match_hungarian, W, repeat=args.repeat)[1]

    previous, refreshed = SIDTable(old, sizes), SIDTable(new, sizes)
    results = []
    for solver, match_s in (("greedy", greedy_s), ("hungarian", hungarian_s)):
        (aligned, _, levels), codes_s = timed(align_codes, old, new, rows, rows, sizes, solver, repeat=args.repeat)
        updater = AlignUpdater(AlignConfig(solver=solver, dedup="none"))
        (_, report), update_s = timed(updater.update, previous, refreshed, None, repeat=args.repeat)
        agreement = float(np.mean(aligned == old))
        clean_exact = float(np.mean(np.all(aligned[~noisy] == old[~noisy], axis=1))) if (~noisy).any() else float("nan")
        weight = sum(lv["matched_weight"] for lv in levels)
        results.append((solver, match_s, codes_s, update_s, report["seconds"], weight, agreement, clean_exact))

    print(
        f"items={args.items} levels={args.levels} vocab={args.vocab} noise={args.noise} seed={args.seed}; "
        f"machine: {platform.machine()} {platform.system()}, os.cpu_count()={os.cpu_count()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, numpy {np.__version__}; "
        f"best of {args.repeat} calls per step"
    )
    print(f"table generation {build_s:.3f} s; co-occurrence W, all {args.levels} levels: {w_s:.3f} s\n")
    print(
        "| solver | matching, all levels (s) | align_codes (s) | update() (s) | report seconds | matched weight | agreement | clean exact |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for solver, match_s, codes_s, update_s, rep_s, weight, agreement, clean in results:
        print(
            f"| {solver} | {match_s:.3f} | {codes_s:.3f} | {update_s:.3f} | {rep_s:.3f} | {weight} | "
            f"{agreement:.4f} | {clean:.4f} |"
        )


if __name__ == "__main__":
    main()
