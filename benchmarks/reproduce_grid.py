"""Reproduce GRID's TIGER results on Amazon Beauty: RK-Means, R-VQ and RQ-VAE SIDs x ``tiger``.

Builds on ``examples/beauty-tiger.toml`` (the GRID protocol: the 5-core data as shipped,
leave-one-out split, sliding-window training, which the ``tiger`` generator does,
full-catalog ranking by constrained beam search, and the best-validation checkpoint, which
the training loop keeps). It runs every combination of ``--tokenizers`` x ``--ties``
(``keep`` = the file's order of same-day reviews, ``shuffle`` = a random order seeded by the
run's seed) x ``--seeds`` through :func:`sidkit.api.run_pipeline`, one output directory per
combination under ``--out``. The encoder stage is shared through the hf-text embedding cache,
so only the first run embeds the catalog. A re-run with the same options reuses the stages
that are already done.

Everything you do not pass keeps the defaults of the config and its config classes, which
are GRID's: 3 x 256 codes plus a de-dup digit, 1000 k-means / R-VQ steps per level,
3000 RQ-VAE steps, a T5 with 4 + 4 layers, d_model 128, d_ff 1024, histories of 20 items,
20 epochs with early stopping on validation NDCG@10, and beam width 20.

It prints a markdown table with one row per run: test Recall/NDCG@5/10, the ``markov`` and
``mostpop`` baselines' R@10/N@10 on the same split, and the wall time, followed by the
published GRID row (Beauty, Flan-T5-XL, RK-Means 3x256). It writes the same data to
``OUT/summary.json``. The last line is ``grid_goal_met=<true|false>``. The goal is met when
the best tokenizer (the highest mean validation NDCG@10 under ``ties=keep``) reaches test
R@10 >= 0.060 and N@10 >= 0.032 with ``ties=keep``, and beats Markov on both R@10 and N@10
under both ``keep`` and ``shuffle``. All values are means over the seeds. It needs both ties
settings, so a run with only one of them reports false.

GPU run (the full GRID budget, 3 tokenizers x 2 ties settings = 6 runs)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_grid.py --device cuda

Reduced CPU run (smaller model, fewer epochs and steps; it takes hours, not days)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_grid.py --device cpu \\
        --epochs 3 --d-model 64 --d-ff 256 --layers 2 --max-len 10 \\
        --steps-per-level 200 --rqvae-steps 600 --beam 10 --out runs/reproduce-grid-cpu

Smoke test (about 5 minutes on 2 CPU cores, mostly beam search over all 22k users for
validation and for the final valid/test rankings; the metrics mean nothing)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_grid.py --device cpu \\
        --tokenizers rkmeans --ties keep --epochs 1 --d-model 32 --d-ff 64 --layers 1 \\
        --max-len 5 --steps-per-level 50 --beam 10 --set generator.train.max_steps=60 \\
        --out runs/reproduce-grid-smoke

The data is looked up in ``../shared/data`` next to the repository
(``amazon-beauty/Beauty.inter.tsv`` and ``amazon-beauty/Beauty.items.jsonl``). Use
``--data-dir`` to point elsewhere, and ``--set KEY=VALUE`` for any other config override
(applied to every run, e.g. ``--set encoder.model=google/flan-t5-xl``).
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_DATA_DIR,
    REPO,
    apply_sets,
    done_message,
    find_data,
    fmt,
    invocation,
    markdown_table,
    mean,
    positive_int,
    read_config,
    resolve_all,
    run_timed,
    set_run_options,
    set_tiger_options,
    setup_logging,
    write_summary,
)

DEFAULT_CONFIG = REPO / "examples" / "beauty-tiger.toml"
DATASET_DIR, INTER_FILE, ITEMS_FILE = "amazon-beauty", "Beauty.inter.tsv", "Beauty.items.jsonl"

TOKENIZERS = ("rkmeans", "rvq", "rqvae")
TIES = ("keep", "shuffle")
# what a tokenizer table of the config may pass on to another tokenizer (TokenizerConfig's fields)
SHARED_TOKENIZER_KEYS = ("levels", "codebook_size", "dedup", "seed")

PUBLISHED = {
    "label": "GRID published (Beauty, Flan-T5-XL, RK-Means 3x256)",
    "recall@5": 0.0422,
    "recall@10": 0.0639,
    "ndcg@5": 0.0277,
    "ndcg@10": 0.0347,
}
GOAL = {"recall@10": 0.060, "ndcg@10": 0.032}
TEST_KEYS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
BASELINE_KEYS = ("markov/recall@10", "markov/ndcg@10", "mostpop/recall@10", "mostpop/ndcg@10")

log = logging.getLogger("reproduce_grid")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Options left out keep GRID's defaults (see the module docstring for full and reduced runs).",
    )
    p.add_argument("--tokenizers", nargs="+", choices=TOKENIZERS, default=list(TOKENIZERS), metavar="TOK",
                   help=f"tokenizers to compare ({', '.join(TOKENIZERS)}; default: all)")
    p.add_argument("--ties", nargs="+", choices=TIES, default=list(TIES),
                   help="order of same-timestamp interactions (the data table's ties option; default: keep shuffle)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="run seeds (default: 0)")
    p.add_argument("--epochs", type=positive_int, help="generator training epochs (GRID: 20, early stopping)")
    p.add_argument("--d-model", type=positive_int, help="T5 d_model (GRID: 128)")
    p.add_argument("--layers", type=positive_int, help="T5 encoder and decoder layers, each (GRID: 4)")
    p.add_argument("--d-ff", type=positive_int, help="T5 feed-forward size (GRID: 1024)")
    p.add_argument("--max-len", type=positive_int, help="history items, split and model (GRID: 20)")
    p.add_argument("--steps-per-level", type=positive_int, help="rkmeans / rvq steps per level (default: 1000)")
    p.add_argument("--rqvae-steps", type=positive_int, help="rqvae training steps (default: 3000)")
    p.add_argument("--beam", type=positive_int, help="beam width (GRID: 20; raised to 10, the largest cutoff)")
    p.add_argument("--device", help="run.device: auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--out", type=Path, default=Path("runs/reproduce-grid"),
                   help="output folder: one run directory per combination, plus summary.json")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help=f"folder holding {DATASET_DIR}/{INTER_FILE} and {DATASET_DIR}/{ITEMS_FILE} "
                        f"(default: {DEFAULT_DATA_DIR})")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"base config (default: {DEFAULT_CONFIG})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every run (repeatable), as sidkit run --set")
    p.add_argument("--progress", action="store_true", help="show progress bars (default: log lines only)")
    args = p.parse_args(argv)

    args.inter_path, args.items_path = find_data(p, args.data_dir, "Amazon Beauty", DATASET_DIR, (INTER_FILE, ITEMS_FILE))
    if not args.config.is_file():
        p.error(f"config not found: {args.config}")
    args.tokenizers = list(dict.fromkeys(args.tokenizers))
    args.ties = list(dict.fromkeys(args.ties))
    args.seeds = list(dict.fromkeys(args.seeds))
    return args


# -- configs ---------------------------------------------------------------------------------


def base_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config file as a dict (paths absolute), pointed at the data found in ``--data-dir``."""
    raw = read_config(args.config)
    raw.setdefault("data", {})
    raw["data"]["path"] = str(args.inter_path)
    raw["data"]["items"] = str(args.items_path)
    return raw


def tokenizer_table(base: dict[str, Any], name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The base config's tokenizer table for its own tokenizer; for another one only the keys
    every tokenizer shares (levels, codebook size, de-dup), so the rest keeps its defaults."""
    table = dict(base.get("tokenizer", {}))
    if table.get("name") != name:
        table = {"name": name, **{k: table[k] for k in SHARED_TOKENIZER_KEYS if k in table}}
    if name in ("rkmeans", "rvq") and args.steps_per_level is not None:
        table["steps_per_level"] = args.steps_per_level
    if name == "rqvae" and args.rqvae_steps is not None:
        table["steps"] = args.rqvae_steps
    return table


def run_config(base: dict[str, Any], tokenizer: str, ties: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The raw config of one combination: only what the user passed is changed."""
    raw = copy.deepcopy(base)
    set_run_options(raw, seed, args)
    data = raw["data"]
    data["ties"] = ties
    data["tie_seed"] = seed  # shuffle: another tie order per seed
    raw["tokenizer"] = tokenizer_table(base, tokenizer, args)
    set_tiger_options(raw, args)
    return apply_sets(raw, args)


# -- results ---------------------------------------------------------------------------------


def aggregate(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """Mean over seeds of every metric, per (tokenizer, ties)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["tokenizer"], r["ties"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        agg = {k: mean([r["test"][k] for r in rs]) for k in (*TEST_KEYS, *BASELINE_KEYS)}
        agg["valid/ndcg@10"] = mean([r["valid"]["ndcg@10"] for r in rs])
        agg["wall_s"] = mean([r["wall_s"] for r in rs])
        agg["n_seeds"] = len(rs)
        out[key] = agg
    return out


def goal_check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the best tokenizer meets GRID's Beauty numbers (see the module docstring)."""
    agg = aggregate(rows)
    keep = [t for (t, ties) in agg if ties == "keep"]
    selected_by = "mean valid ndcg@10 under ties=keep"
    if not keep:
        return {"met": False, "best_tokenizer": None, "selected_by": selected_by,
                "reason": "no run with ties=keep", "checks": {}}
    best = max(keep, key=lambda t: agg[(t, "keep")]["valid/ndcg@10"])
    k = agg[(best, "keep")]
    checks = {
        "keep: recall@10 >= 0.060": k["recall@10"] >= GOAL["recall@10"],
        "keep: ndcg@10 >= 0.032": k["ndcg@10"] >= GOAL["ndcg@10"],
    }
    for ties in TIES:
        a = agg.get((best, ties))
        for m in ("recall@10", "ndcg@10"):
            checks[f"{ties}: {m} > markov"] = a is not None and a[m] > a[f"markov/{m}"]
    met = all(checks.values())
    reason = "" if met else "failed: " + ", ".join(name for name, ok in checks.items() if not ok)
    if (best, "shuffle") not in agg:
        reason += " (no run with ties=shuffle)"
    return {"met": met, "best_tokenizer": best, "selected_by": selected_by,
            "reason": reason, "checks": checks}


def table(rows: list[dict[str, Any]]) -> str:
    head = ["tokenizer", "ties", "seed", "R@5", "R@10", "N@5", "N@10",
            "Markov R@10", "Markov N@10", "MostPop R@10", "MostPop N@10", "wall"]

    def line(tok: str, ties: str, seed: str, m: dict[str, Any], wall: float | None) -> list[str]:
        cells = [tok, ties, seed, *(fmt(m.get(k)) for k in (*TEST_KEYS, *BASELINE_KEYS))]
        cells.append("–" if wall is None else f"{wall:.0f} s")
        return cells

    lines = [line(r["tokenizer"], r["ties"], str(r["seed"]), r["test"], r["wall_s"]) for r in rows]
    if len({r["seed"] for r in rows}) > 1:
        for (tok, ties), a in aggregate(rows).items():
            lines.append(line(tok, ties, f"mean of {a['n_seeds']}", a, a["wall_s"]))
    lines.append(line(PUBLISHED["label"], "–", "–", PUBLISHED, None))
    return markdown_table(head, lines)


def summarize(path: Path, args: argparse.Namespace, rows: list[dict[str, Any]], done: bool) -> dict[str, Any]:
    return write_summary(path, done, {
        "config": str(args.config.resolve()),
        "data": {"path": str(args.inter_path), "items": str(args.items_path)},
        **invocation(args, exclude=("inter_path", "items_path")),
        "published": PUBLISHED,
        "goal": GOAL,
        "runs": rows,
        "aggregate": [{"tokenizer": t, "ties": ties, **a} for (t, ties), a in aggregate(rows).items()] if rows else [],
        "grid_goal": goal_check(rows) if rows else None,
        "table_markdown": table(rows),
    })


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()

    from sidkit.api import get_registry

    registry = get_registry()
    base = base_config(args)
    combos = [(tok, ties, seed) for tok in args.tokenizers for ties in args.ties for seed in args.seeds]
    # resolve every config first: a typo fails now, not after hours of training
    resolved = resolve_all(((run_config(base, *c, args), args.config) for c in combos), registry)
    if resolved is None:
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    rows: list[dict[str, Any]] = []
    for i, ((tok, ties, seed), cfg) in enumerate(zip(combos, resolved, strict=True), 1):
        run_dir = args.out / f"{tok}-tiger-ties_{ties}-seed{seed}"
        log.info("[%d/%d] tokenizer=%s ties=%s seed=%d -> %s", i, len(combos), tok, ties, seed, run_dir)
        row = {"tokenizer": tok, "generator": "tiger", "ties": ties, "seed": seed, "run_dir": str(run_dir),
               **run_timed(cfg, run_dir, registry)}
        log.info("[%d/%d] %s", i, len(combos), done_message(row))
        rows.append(row)
        summarize(summary_path, args, rows, done=False)  # partial results survive a crash

    summary = summarize(summary_path, args, rows, done=True)
    goal = summary["grid_goal"]
    print(summary["table_markdown"])
    print()
    print(f"best tokenizer ({goal['selected_by']}): {goal['best_tokenizer']}"
          + (f"; {goal['reason']}" if goal["reason"] else ""))
    print(f"summary: {summary_path}")
    print(f"grid_goal_met={'true' if goal['met'] else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
