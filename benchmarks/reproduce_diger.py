"""DIGER against two-stage TIGER on the same pretrained SIDs (Beauty, ML-100K; synthetic for smoke runs).

Every run of a dataset and seed shares the encoder and the pretrained ``diger`` tokenizer
(RQ-VAE, 3 levels + a fixed conflict level; the stages are copied from the first finished
run, and the pipeline reuses them only when their fingerprints match). Then one generator
per row, everything else equal:

- ``two-stage``: ``tiger`` on the tokenizer's SIDs, frozen (the same T5 sizes and training);
- ``ste``: ``diger`` with ``assignment = "ste"`` (hard straight-through, no noise);
- ``frqud``, ``sdud``, ``both``: ``diger`` with that uncertainty decay (soft bridge);
- ``detached``: ``diger``, FrqUD, ``bridge = "detached"`` (the authors' released code);
- ablations, on the first seed only: ``no-ud`` (Gumbel noise of scale 1 for every item),
  ``no-gumbel`` (no noise: deterministic softmax), ``no-soft-update`` (FrqUD, only the
  selected codes learn), ``gaussian`` (Gaussian noise, FrqUD).

The dataset's example config (``examples/<dataset>-diger.toml``) gives the rest; the
options passed shrink it. It prints a markdown table per dataset (test R@10, N@10, R@5,
N@5 per run, ``mean ± std`` over seeds per row, the level-2/3 code perplexity of the SIDs
the run ended with, ``markov``/``mostpop`` of the same split, the published Beauty rows),
writes ``OUT/summary.json``, and ends with, for the first dataset::

    two_stage_r10=...  ste_r10=...  diger_frqud_r10=...
    diger_beats_two_stage=true|false   (FrqUD's mean test R@10 above two-stage's)
    ste_collapsed=true|false           (STE's mean level-2/3 perplexity <= half of FrqUD's)

GPU run (Beauty and ML-100K, 3 seeds, the example configs' budgets)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_diger.py --device cuda

Reduced CPU run (say so beside its numbers)::

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_diger.py --device cpu \\
        --datasets ml100k beauty --epochs 4 --d-model 64 --d-ff 256 --layers 2 --max-len 10 \\
        --beam 10 --tokenizer-steps 1500 --out runs/reproduce-diger-cpu

Smoke test (synthetic data, one seed, minutes; the metrics mean nothing)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_diger.py --quick \\
        --datasets synthetic --seeds 0 --out /tmp/reproduce-diger-smoke
"""

from __future__ import annotations

import argparse
import copy
import logging
import shutil
import statistics
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
    setup_logging,
    write_summary,
)

DATASETS = {  # name: (label, data folder under --data-dir, files, data.path is the folder)
    "beauty": ("Amazon Beauty", "amazon-beauty", ("Beauty.inter.tsv", "Beauty.items.jsonl"), False),
    "ml100k": ("MovieLens-100K", "ml-100k", ("u.data", "u.item"), True),
    "synthetic": ("synthetic (embedded)", None, (), False),
}
# the DIGER paper, Amazon Beauty, test R@10 / N@10
PUBLISHED = {
    "two-stage": (0.0610, 0.0331), "ste": (0.0134, 0.0067), "frqud": (0.0683, 0.0372),
    "sdud": (0.0657, 0.0361), "both": (0.0696, 0.0376),
    "no-ud": (0.0679, None), "no-gumbel": (0.0283, None), "no-soft-update": (0.0650, None), "gaussian": (0.0620, None),
}
VARIANTS: dict[str, dict[str, Any]] = {  # generator keys over the config's diger table
    "two-stage": {"name": "tiger"},
    "ste": {"assignment": "ste", "noise": "none"},
    "frqud": {"noise": "frqud"},
    "sdud": {"noise": "sdud"},
    "both": {"noise": "both"},
    "detached": {"noise": "frqud", "bridge": "detached"},
}
ABLATIONS: dict[str, dict[str, Any]] = {
    "no-ud": {"noise": "none", "sigma_init": 1.0},
    "no-gumbel": {"noise": "none", "sigma_init": 0.0},
    "no-soft-update": {"noise": "frqud", "soft_update": False},
    "gaussian": {"noise": "frqud", "assignment": "gaussian"},
}
TEST_KEYS = ("recall@10", "ndcg@10", "recall@5", "ndcg@5")
T5_KEYS = ("d_model", "d_ff", "num_heads", "d_kv", "encoder_layers", "decoder_layers", "dropout", "activation",
           "relative_attention_buckets", "max_len", "windows", "samples_per_sequence", "monitor")
QUICK = {"epochs": 1, "d_model": 32, "d_ff": 64, "layers": 1, "max_len": 5, "beam": 10, "tokenizer_steps": 200}

log = logging.getLogger("reproduce_diger")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", choices=tuple(DATASETS), default=["beauty", "ml100k"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="run seeds (default: 0 1 2)")
    p.add_argument("--variants", nargs="+", choices=(*VARIANTS, *ABLATIONS), default=[*VARIANTS, *ABLATIONS],
                   help="rows to run (default: all; ablations run on the first seed only)")
    p.add_argument("--epochs", type=positive_int, help="generator epochs")
    p.add_argument("--d-model", type=positive_int, help="T5 d_model")
    p.add_argument("--d-ff", type=positive_int, help="T5 feed-forward size")
    p.add_argument("--layers", type=positive_int, help="T5 encoder and decoder layers, each")
    p.add_argument("--max-len", type=positive_int, help="history items (split and model)")
    p.add_argument("--beam", type=positive_int, help="beam width of test ranking and validation")
    p.add_argument("--tokenizer-steps", type=positive_int, help="RQ-VAE pretraining steps")
    p.add_argument("--quick", action="store_true", help="a smoke budget: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    p.add_argument("--device", help="run.device: auto (default), cpu, cuda, ...")
    p.add_argument("--out", type=Path, default=Path("runs/reproduce-diger"))
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for every run (before the row's own generator keys)")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    args.datasets = list(dict.fromkeys(args.datasets))
    args.seeds = list(dict.fromkeys(args.seeds))
    args.data_files = {d: find_data(p, args.data_dir, DATASETS[d][0], DATASETS[d][1], DATASETS[d][2])
                       for d in args.datasets if DATASETS[d][1]}
    return args


# -- configs ---------------------------------------------------------------------------------


def base_config(dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    """The dataset's example config, pointed at ``--data-dir`` and shrunk by the options."""
    raw = read_config(REPO / "examples" / f"{dataset}-diger.toml")
    if dataset in args.data_files:
        files = args.data_files[dataset]
        paths = {"path": str(files[0].parent)} if DATASETS[dataset][3] else {"path": str(files[0]), "items": str(files[1])}
        raw["data"].update(paths)
    gen, tok = raw["generator"], raw["tokenizer"]
    train = gen.setdefault("train", {})
    for key, field in (("d_model", "d_model"), ("d_ff", "d_ff"), ("max_len", "max_len")):
        if getattr(args, key) is not None:
            gen[field] = getattr(args, key)
    if args.max_len is not None:
        raw.setdefault("split", {})["max_len"] = args.max_len
    if args.layers is not None:
        gen["encoder_layers"] = gen["decoder_layers"] = args.layers
    if args.epochs is not None:
        train["epochs"] = args.epochs
        train.setdefault("scheduler", {}).pop("warmup_steps", None)
    if args.tokenizer_steps is not None:
        tok["steps"] = args.tokenizer_steps
    if args.beam is not None:
        raw.setdefault("decoder", {"name": "beam"})["beam_width"] = args.beam
        if "validation" in raw and "decoder" in raw["validation"]:
            raw["validation"]["decoder"]["beam_width"] = min(args.beam, raw["validation"]["decoder"].get("beam_width", args.beam))
    if args.quick:
        raw.setdefault("validation", {})["users"] = 200
    return raw


def generator_table(base: dict[str, Any], variant: str, registry: Any) -> dict[str, Any]:
    """The row's generator: the config's ``diger`` table with the variant's keys, or for
    ``two-stage`` a ``tiger`` with the same T5 sizes and training settings (every value
    written out, so the two differ only in the joint tokenizer)."""
    from sidkit.config.structure import structure, unstructure

    diger = dict(base["generator"])
    if variant != "two-stage":
        return {**diger, **{**VARIANTS, **ABLATIONS}[variant]}
    spec = registry.get("generator", "diger")
    cfg, issues = structure({k: v for k, v in diger.items() if k != "name"}, spec.config, "generator")
    if issues:
        raise SystemExit("\n".join(str(i) for i in issues))
    train = unstructure(cfg.train)
    train["optim"].pop("groups", None)  # the frozen-SID T5 has no tokenizer
    return {"name": "tiger", **{k: getattr(cfg, k) for k in T5_KEYS}, "train": train}


def run_config(base: dict[str, Any], variant: str, seed: int, args: argparse.Namespace, registry: Any) -> dict[str, Any]:
    """The row's config. ``--set`` applies to the shared config before the row's generator
    table is built, so a ``diger``-only key (``generator.noise``, a tokenizer param group)
    does not reach the two-stage ``tiger``, and a row's own keys win over ``--set``."""
    raw = apply_sets(copy.deepcopy(base), args)
    set_run_options(raw, seed, args)
    raw["generator"] = generator_table(raw, variant, registry)
    return raw


def runs_of(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    first = args.seeds[0]
    return [(d, v, s) for d in args.datasets for s in args.seeds for v in args.variants
            if v in VARIANTS or s == first]


def share_stages(run_dir: Path, donors: Sequence[Path]) -> list[str]:
    """Copy the finished encoder and tokenizer stages of the first donor that has them (the
    pipeline verifies their digests and fingerprints before reusing them)."""
    copied = []
    for stage in ("encoder", "tokenizer"):
        if (run_dir / stage / "stage.json").exists():
            continue
        for donor in donors:
            if (donor / stage / "stage.json").exists():
                shutil.copytree(donor / stage, run_dir / stage, dirs_exist_ok=True)
                copied.append(stage)
                break
    return copied


# -- results ---------------------------------------------------------------------------------


def std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) >= 2 else 0.0


def deep_perplexity(stats: dict[str, Any]) -> float:
    """Mean code perplexity of SID levels 2 and 3 (the levels naive STE collapses)."""
    levels = stats.get("levels", [])[1:3]
    return mean([lv["perplexity"] for lv in levels])


def aggregate(rows: list[dict[str, Any]], dataset: str) -> dict[str, dict[str, Any]]:
    out = {}
    for variant in (*VARIANTS, *ABLATIONS):
        rs = [r for r in rows if r["dataset"] == dataset and r["variant"] == variant]
        if rs:
            out[variant] = {
                "mean": {k: mean([r["test"][k] for r in rs]) for k in TEST_KEYS},
                "std": {k: std([r["test"][k] for r in rs]) for k in TEST_KEYS},
                "deep_perplexity": mean([r["deep_perplexity"] for r in rs]),
                "wall_s": mean([r["wall_s"] for r in rs]),
                "seeds": [r["seed"] for r in rs],
            }
    return out


def table(rows: list[dict[str, Any]], dataset: str) -> str:
    head = ["row", "seed", "R@10", "N@10", "R@5", "N@5", "L2/3 perplexity", "wall s"]
    order = {v: i for i, v in enumerate((*VARIANTS, *ABLATIONS))}
    rs = sorted((r for r in rows if r["dataset"] == dataset), key=lambda r: (order[r["variant"]], r["seed"]))
    lines = [[r["variant"], str(r["seed"]), *(fmt(r["test"][k]) for k in TEST_KEYS),
              f"{r['deep_perplexity']:.1f}", f"{r['wall_s']:.0f}"] for r in rs]
    for variant, a in aggregate(rows, dataset).items():
        lines.append([variant, f"mean ± std of {len(a['seeds'])}",
                      *(f"{fmt(a['mean'][k])} ± {fmt(a['std'][k])}" for k in TEST_KEYS),
                      f"{a['deep_perplexity']:.1f}", f"{a['wall_s']:.0f}"])
    if rs:
        for base in ("markov", "mostpop"):
            lines.append([base, "–", *(fmt(mean([r["test"][f"{base}/{k}"] for r in rs])) for k in TEST_KEYS), "–", "–"])
    if dataset == "beauty":
        for variant, (r10, n10) in PUBLISHED.items():
            lines.append([f"{variant} published (DIGER paper)", "–", fmt(r10), fmt(n10), "–", "–", "–", "–"])
    return f"### {DATASETS[dataset][0]} (test)\n\n" + markdown_table(head, lines)


def verdict(rows: list[dict[str, Any]], dataset: str) -> dict[str, Any]:
    agg = aggregate(rows, dataset)
    r10 = {v: agg[v]["mean"]["recall@10"] if v in agg else None for v in ("two-stage", "ste", "frqud")}
    perp = {v: agg[v]["deep_perplexity"] if v in agg else None for v in ("ste", "frqud")}
    return {
        "two_stage_r10": r10["two-stage"], "ste_r10": r10["ste"], "diger_frqud_r10": r10["frqud"],
        "diger_beats_two_stage": None not in (r10["frqud"], r10["two-stage"]) and r10["frqud"] > r10["two-stage"],
        "ste_collapsed": None not in perp.values() and perp["ste"] <= 0.5 * perp["frqud"],
        "deep_perplexity": perp,
    }


def summarize(path: Path, args: argparse.Namespace, rows: list[dict[str, Any]], done: bool) -> dict[str, Any]:
    return write_summary(path, done, {
        **invocation(args, exclude=("data_files",)),
        "runs": rows,
        "aggregate": {d: aggregate(rows, d) for d in args.datasets},
        "verdict": {d: verdict(rows, d) for d in args.datasets},
        "published_beauty": PUBLISHED,
        "table_markdown": "\n\n".join(table(rows, d) for d in args.datasets),
    })


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    import json

    from sidkit.api import get_registry

    registry = get_registry()
    bases = {d: base_config(d, args) for d in args.datasets}
    runs = runs_of(args)
    source = {d: REPO / "examples" / f"{d}-diger.toml" for d in args.datasets}
    resolved = resolve_all(((run_config(bases[d], v, s, args, registry), source[d]) for d, v, s in runs), registry)
    if resolved is None:
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    rows: list[dict[str, Any]] = []
    for i, ((d, v, s), cfg) in enumerate(zip(runs, resolved, strict=True), 1):
        run_dir = args.out / d / f"{v}-seed{s}"
        donors = [args.out / d / f"{other}-seed{s}" for other in (*VARIANTS, *ABLATIONS) if other != v]
        copied = share_stages(run_dir, donors)
        log.info("[%d/%d] dataset=%s row=%s seed=%d -> %s%s", i, len(runs), d, v, s, run_dir,
                 f" (copied {', '.join(copied)})" if copied else "")
        row = {"dataset": d, "variant": v, "seed": s, "run_dir": str(run_dir), **run_timed(cfg, run_dir, registry)}
        stats = json.loads((run_dir / "sid_stats.json").read_text())
        row["deep_perplexity"] = deep_perplexity(stats)
        row["changed_share"] = stats.get("changed_share", 0.0)
        log.info("[%d/%d] %s", i, len(runs), done_message(row))
        rows.append(row)
        summarize(summary_path, args, rows, done=False)
    summary = summarize(summary_path, args, rows, done=True)
    print(summary["table_markdown"])
    print(f"\nsummary: {summary_path}")
    first = summary["verdict"][args.datasets[0]]
    print(f"two_stage_r10={fmt(first['two_stage_r10'])}")
    print(f"ste_r10={fmt(first['ste_r10'])}")
    print(f"diger_frqud_r10={fmt(first['diger_frqud_r10'])}")
    print(f"diger_beats_two_stage={'true' if first['diger_beats_two_stage'] else 'false'}")
    print(f"ste_collapsed={'true' if first['ste_collapsed'] else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
