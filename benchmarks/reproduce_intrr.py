"""IntRR against the flattened decoder-only generator on the same SIDs (Beauty, ML-100K).

For every dataset group (``beauty`` under each ``--ties`` order, ``ml100k``; ``synthetic``
for smoke tests) x ``--tokenizers`` (``rkmeans``, ``rqvae``: 3 x 128 codes + the de-dup
digit) x ``--seeds`` it runs, through :func:`sidkit.api.run_pipeline`, one pipeline per
``--models``:

- ``intrr``: the example config's ``intrr`` table (``examples/beauty-intrr.toml``,
  ``examples/ml100k-intrr.toml``, ``examples/synthetic-intrr.toml``);
- ``decoder-only``: grid's flattened GPT-2 with **the same** ``max_len``, ``d_model``,
  ``num_layers``, ``num_heads``, ``d_ff``, ``dropout``, ``activation``, ``windows`` and the
  whole resolved ``train`` table of that ``intrr`` (optimizer, batch, epochs, precision);
- ``tiger`` (a reference row): grid's T5 at GRID's sizes, the same ``max_len`` and ``train``;
- ``sasrec`` (a reference row, item IDs, full-softmax ``ce``): once per group and seed, the
  same ``max_len``, ranked by ``item-scores``.

Every run of one group, tokenizer and seed has the same encoder and tokenizer stages: the
first run's finished ``encoder/`` and ``tokenizer/`` are copied into the next runs, and the
pipeline reuses them only when their fingerprints match. Ablations of ``intrr`` run on the
first group, tokenizer and seed (``--ablations``, default all four: ``no_tf`` =
``user_teacher_forcing = false``, ``no_aln`` = ``aln_weight = 0``, ``no_redistribution`` =
``redistribution = "none"``, ``no_shared_ran`` = ``shared_ran = false``).

It prints, per group, a markdown table (per run, ``mean ± std`` per tokenizer and model,
the ``markov``/``mostpop`` rows of the same split, for Beauty the published IntRR rows),
the ablation table, and writes ``OUT/summary.json``. The last lines are
``intrr_minus_flat_r10_rkmeans=``, ``intrr_minus_flat_r10_rqvae=`` (mean over the groups of
intrr's mean test R@10 minus decoder-only's) and ``intrr_beats_flat=true|false`` (true
when intrr's mean test R@10 and N@10 are at least decoder-only's for every group and
tokenizer that has both). ``--exclude-history`` also ranks each non-ablation run's test
users with ``decoder.exclude_history = true`` (a re-ranked copy ``<run>-xh``; nothing is
retrained) and prints the same tables and intrr - decoder-only lines for that protocol;
the last lines stay the paper protocol's.

GPU run (full budget: Beauty both tie orders and ML-100K, both tokenizers, 3 seeds)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_intrr.py --device cuda \\
        --out runs/reproduce-intrr

Reduced CPU run (smaller models, fewer epochs; hours on 2 cores)::

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_intrr.py --device cpu \\
        --models intrr decoder-only --epochs 10 --d-model 128 --d-ff 512 --batch-size 128 \\
        --rqvae-steps 1000 --out runs/reproduce-intrr-cpu

Smoke test (synthetic data, one seed, minutes; the metrics mean nothing)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_intrr.py \\
        --datasets synthetic --seeds 0 --quick --out runs/reproduce-intrr-smoke

The data is looked up in ``../shared/data`` next to the repository (``--data-dir``);
``--set KEY=VALUE`` overrides any key of every run (applied last).
"""

from __future__ import annotations

import argparse
import copy
import logging
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Dataset:
    label: str
    config: Path
    folder: str | None  # under --data-dir (None: embedded data)
    files: tuple[str, ...]
    folder_is_path: bool
    tie_orders: bool  # whether --ties applies


DATASETS = {
    "beauty": Dataset("Amazon Beauty", REPO / "examples" / "beauty-intrr.toml", "amazon-beauty",
                      ("Beauty.inter.tsv", "Beauty.items.jsonl"), False, True),
    "ml100k": Dataset("MovieLens-100K", REPO / "examples" / "ml100k-intrr.toml", "ml-100k",
                      ("u.data", "u.item"), True, False),
    "synthetic": Dataset("Synthetic", REPO / "examples" / "synthetic-intrr.toml", None, (), False, False),
}
TOKENIZERS = ("rkmeans", "rqvae")
MODELS = ("intrr", "decoder-only", "tiger", "sasrec")
TIES = ("keep", "shuffle")
ABLATIONS = {
    "no_tf": {"user_teacher_forcing": False},
    "no_aln": {"aln_weight": 0.0},
    "no_redistribution": {"redistribution": "none"},
    "no_shared_ran": {"shared_ran": False},
}
SHARED_KEYS = ("max_len", "d_model", "num_layers", "num_heads", "d_ff", "dropout", "activation", "windows", "monitor")
TEST_KEYS = ("recall@10", "ndcg@10", "recall@5", "ndcg@5")
BASELINES = ("markov", "mostpop")
# IntRR paper, Amazon Beauty, Transformer backbone, test R@10 / N@10
PUBLISHED_BEAUTY = (
    {"label": "published RK-Means flattened", "recall@10": 0.0553, "ndcg@10": 0.0311},
    {"label": "published RK-Means IntRR", "recall@10": 0.0640, "ndcg@10": 0.0384},
    {"label": "published RQ-VAE flattened", "recall@10": 0.0510, "ndcg@10": 0.0294},
    {"label": "published RQ-VAE IntRR", "recall@10": 0.0623, "ndcg@10": 0.0375},
)
PUBLISHED_ABLATION_N10 = {"full": 0.0384, "no_tf": 0.0257, "no_aln": 0.0341, "no_redistribution": 0.0312,
                          "no_shared_ran": 0.0336}
QUICK = {"epochs": 1, "d_model": 32, "layers": 1, "heads": 2, "d_ff": 64, "batch_size": 64, "beam": 10,
         "rqvae_steps": 50, "max_steps": 20, "validation_users": 100}

log = logging.getLogger("reproduce_intrr")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="See the module docstring for the full, reduced and smoke runs.")
    p.add_argument("--datasets", nargs="+", choices=tuple(DATASETS), default=["beauty", "ml100k"])
    p.add_argument("--ties", nargs="+", choices=TIES, default=list(TIES), help="Beauty tie orders (default: both)")
    p.add_argument("--tokenizers", nargs="+", choices=TOKENIZERS, default=list(TOKENIZERS))
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--ablations", nargs="*", choices=tuple(ABLATIONS), default=list(ABLATIONS),
                   help="intrr ablations on the first group, tokenizer and seed (default: all; none: --ablations)")
    p.add_argument("--epochs", type=positive_int, help="generator epochs (every model)")
    p.add_argument("--max-steps", type=positive_int, help="at most that many optimizer steps (every model)")
    p.add_argument("--d-model", type=positive_int, help="backbone width of intrr and decoder-only (sasrec: hidden)")
    p.add_argument("--layers", type=positive_int, help="backbone blocks (tiger: encoder and decoder each)")
    p.add_argument("--heads", type=positive_int, help="attention heads")
    p.add_argument("--d-ff", type=positive_int, help="feed-forward width")
    p.add_argument("--max-len", type=positive_int, help="history items (split and every model)")
    p.add_argument("--batch-size", type=positive_int, help="training batch (every model)")
    p.add_argument("--rqvae-steps", type=positive_int, help="rqvae training steps (default: its 3000)")
    p.add_argument("--validation-users", type=int, help="[validation] users (0 = all)")
    p.add_argument("--beam", type=positive_int, help="beam width (default: the config's 20)")
    p.add_argument("--ran-context", choices=("previous", "prefix"),
                   help="intrr's generator.ran_context (default: the config's, the paper's 'previous')")
    p.add_argument("--exclude-history", action="store_true",
                   help="also rank every non-ablation run's test users with decoder.exclude_history = true "
                        "(a copy of the run, re-ranked: the trained generator is reused) and print the tables "
                        "and the intrr - flat lines for that protocol too (markov/mostpop ranked the same way)")
    p.add_argument("--quick", action="store_true",
                   help="smoke-test budget: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()) + " (explicit options win)")
    p.add_argument("--device", help="run.device: auto (default), cpu, cuda, ...")
    p.add_argument("--out", type=Path, default=Path("runs/reproduce-intrr"))
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run (repeatable)")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    args.datasets = list(dict.fromkeys(args.datasets))
    args.seeds = list(dict.fromkeys(args.seeds))
    args.tokenizers = [t for t in TOKENIZERS if t in args.tokenizers]
    args.models = [m for m in MODELS if m in args.models]
    args.ties = [t for t in TIES if t in args.ties]
    args.data_files = {
        d: find_data(p, args.data_dir, DATASETS[d].label, DATASETS[d].folder, DATASETS[d].files)
        for d in args.datasets if DATASETS[d].folder is not None
    }
    return args


# -- configs ---------------------------------------------------------------------------------


def groups(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """``(dataset, ties)`` pairs; ties is None where the dataset has no tie option."""
    return [(d, t) for d in args.datasets for t in (args.ties if DATASETS[d].tie_orders else [None])]


def group_name(dataset: str, ties: str | None) -> str:
    return dataset if ties is None else f"{dataset}-{ties}"


def base_config(dataset: str, ties: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """The example config as a dict (paths absolute), pointed at the data in ``--data-dir``."""
    raw = read_config(DATASETS[dataset].config)
    if dataset in args.data_files:
        files = args.data_files[dataset]
        paths = {"path": str(files[0].parent)} if DATASETS[dataset].folder_is_path else {
            "path": str(files[0]), "items": str(files[1])}
        raw.setdefault("data", {}).update(paths)
    if ties is not None:
        raw["data"]["ties"] = ties
    if args.max_len is not None:
        raw.setdefault("split", {})["max_len"] = args.max_len
    if args.validation_users is not None:
        raw.setdefault("validation", {})["users"] = args.validation_users
    if args.beam is not None:
        raw["decoder"]["beam_width"] = args.beam
    return raw


def tokenizer_table(base: dict[str, Any], name: str, args: argparse.Namespace) -> dict[str, Any]:
    source = base["tokenizer"]
    table = {"name": name, **{k: source[k] for k in ("levels", "codebook_size", "dedup", "seed") if k in source}}
    if name == "rkmeans" and "steps_per_level" in source:
        table["steps_per_level"] = source["steps_per_level"]
    if name == "rqvae" and args.rqvae_steps is not None:
        table["steps"] = args.rqvae_steps
    return table


def intrr_table(base: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The example's intrr table with the budget options, every default filled in."""
    from sidkit.config.structure import structure, unstructure
    from sidkit.registry import get_registry

    table = copy.deepcopy(base["generator"])
    table.pop("name", None)
    train = table.setdefault("train", {})
    for option, key in (("d_model", "d_model"), ("layers", "num_layers"), ("heads", "num_heads"),
                        ("d_ff", "d_ff"), ("max_len", "max_len")):
        if getattr(args, option) is not None:
            table[key] = getattr(args, option)
    for option, key in (("epochs", "epochs"), ("max_steps", "max_steps"), ("batch_size", "batch_size")):
        if getattr(args, option) is not None:
            train[key] = getattr(args, option)
    cfg, issues = structure(table, get_registry().get("generator", "intrr").config, "generator")
    if issues:
        raise SystemExit("error: " + "; ".join(str(i) for i in issues))
    return {"name": "intrr", **unstructure(cfg)}


def generator_tables(intrr: dict[str, Any], model: str, args: argparse.Namespace) -> tuple[dict, dict | None]:
    """``(generator table, decoder table or None)`` of ``model`` matched to ``intrr``."""
    train = copy.deepcopy(intrr["train"])
    if model == "intrr":
        return copy.deepcopy(intrr), None
    if model == "decoder-only":
        return {"name": "decoder-only", **{k: intrr[k] for k in SHARED_KEYS}, "train": train}, None
    if model == "tiger":
        table = {"name": "tiger", "max_len": intrr["max_len"], "monitor": intrr["monitor"], "train": train}
        for option, keys in (("d_model", ("d_model",)), ("layers", ("encoder_layers", "decoder_layers")),
                             ("heads", ("num_heads",)), ("d_ff", ("d_ff",))):
            for key in keys:
                if getattr(args, option) is not None:
                    table[key] = getattr(args, option)
        return table, None
    table = {"name": "sasrec", "hidden": 64, "num_blocks": 2, "num_heads": 2, "ffn": 256, "dropout": 0.5,
             "max_len": intrr["max_len"], "loss": "ce", "windows": "all", "monitor": intrr["monitor"],
             "train": {k: train[k] for k in ("epochs", "batch_size", "precision", "max_steps",
                                              "early_stopping_patience") if train.get(k) is not None}}
    for option, key in (("d_model", "hidden"), ("layers", "num_blocks"), ("heads", "num_heads"), ("d_ff", "ffn")):
        if getattr(args, option) is not None:
            table[key] = getattr(args, option)
    return table, {"name": "item-scores"}


@dataclass(frozen=True)
class Run:
    dataset: str
    ties: str | None
    tokenizer: str
    model: str
    seed: int
    ablation: str | None = None

    @property
    def group(self) -> str:
        return group_name(self.dataset, self.ties)

    def directory(self, out: Path) -> Path:
        tail = f"-{self.ablation}" if self.ablation else ""
        return out / self.group / f"{self.tokenizer}-{self.model}-seed{self.seed}{tail}"


def planned_runs(args: argparse.Namespace) -> list[Run]:
    runs = []
    for dataset, ties in groups(args):
        for seed in args.seeds:
            for tok in args.tokenizers:
                models = [m for m in args.models if m != "sasrec" or tok == args.tokenizers[0]]
                runs += [Run(dataset, ties, tok, m, seed) for m in models]
    first = groups(args)[0]
    runs += [Run(*first, args.tokenizers[0], "intrr", args.seeds[0], a) for a in args.ablations]
    return runs


def run_config(base: dict[str, Any], intrr: dict[str, Any], run: Run, args: argparse.Namespace) -> dict[str, Any]:
    raw = copy.deepcopy(base)
    set_run_options(raw, run.seed, args)
    raw["tokenizer"] = tokenizer_table(base, run.tokenizer, args)
    gen, decoder = generator_tables(intrr, run.model, args)
    if run.model == "intrr" and args.ran_context:
        gen["ran_context"] = args.ran_context
    if run.ablation:
        gen.update(ABLATIONS[run.ablation])
    raw["generator"] = gen
    if decoder is not None:
        raw["decoder"] = decoder
    return apply_sets(raw, args)


def share_stages(target: Path, donors: Sequence[Path]) -> bool:
    """Copy the finished ``encoder/`` and ``tokenizer/`` stages of the first donor that has
    both into ``target`` (``stage.json`` last); the pipeline checks their fingerprints."""
    if (target / "tokenizer" / "stage.json").exists():
        return False
    for donor in donors:
        if all((donor / s / "stage.json").exists() for s in ("encoder", "tokenizer")):
            for stage in ("encoder", "tokenizer"):
                shutil.copytree(donor / stage, target / stage, ignore=shutil.ignore_patterns("stage.json"),
                                dirs_exist_ok=True)
                shutil.copy2(donor / stage / "stage.json", target / stage / "stage.json")
            return True
    return False


def rerank_excluding_history(run: Run, run_dir: Path, bases: dict, intrrs: dict, args: argparse.Namespace,
                             registry: Any) -> dict[str, float]:
    """Test metrics of ``run`` ranked with ``decoder.exclude_history = true``: a copy of the
    finished run (``<run>-xh``) re-ranked; its generator stage's fingerprint is unchanged
    (validation keeps its own decoder), so nothing is trained again."""
    from sidkit.api import resolve_config, run_pipeline

    xh_dir = run_dir.with_name(run_dir.name + "-xh")
    if not (xh_dir / "generator" / "stage.json").exists():
        shutil.rmtree(xh_dir, ignore_errors=True)
        shutil.copytree(run_dir, xh_dir)
    raw = run_config(bases[(run.dataset, run.ties)], intrrs[(run.dataset, run.ties)], run, args)
    raw["decoder"] = {**raw.get("decoder", bases[(run.dataset, run.ties)].get("decoder", {})), "exclude_history": True}
    result = run_pipeline(resolve_config(raw, registry, source=DATASETS[run.dataset].config), out=xh_dir,
                          registry=registry)
    log.info("history items left out: test R@10 %.4f N@10 %.4f (markov %.4f)", result.metrics["test"]["recall@10"],
             result.metrics["test"]["ndcg@10"], result.metrics["test"]["markov/recall@10"])
    return result.metrics["test"]


# -- results ---------------------------------------------------------------------------------


def std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) >= 2 else 0.0


def aggregate(rows: list[dict[str, Any]], part: str = "test") -> dict[tuple[str, str, str], dict[str, Any]]:
    """Mean and std over seeds per (group, tokenizer, model) of the non-ablation runs' ``part``
    metrics (``"test"``, or ``"test_xh"``: ranked with history items left out)."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if not r["ablation"] and part in r:
            by.setdefault((r["group"], r["tokenizer"], r["model"]), []).append(r)
    return {key: {"mean": {k: mean([r[part][k] for r in rs]) for k in TEST_KEYS},
                  "std": {k: std([r[part][k] for r in rs]) for k in TEST_KEYS},
                  "wall_s": mean([r["wall_s"] for r in rs]), "seeds": [r["seed"] for r in rs]}
            for key, rs in by.items()}


def comparison(rows: list[dict[str, Any]], args: argparse.Namespace, part: str = "test") -> dict[str, Any]:
    """intrr minus decoder-only (mean test R@10 and N@10) per group and tokenizer."""
    agg = aggregate(rows, part)
    per: dict[str, dict[str, Any]] = {}
    for group in (group_name(*g) for g in groups(args)):
        for tok in args.tokenizers:
            a, b = agg.get((group, tok, "intrr")), agg.get((group, tok, "decoder-only"))
            if a and b:
                per.setdefault(tok, {})[group] = {m: a["mean"][m] - b["mean"][m] for m in ("recall@10", "ndcg@10")}
    r10 = {tok: mean([d["recall@10"] for d in per.get(tok, {}).values()]) for tok in TOKENIZERS}
    beats = bool(per) and all(d["recall@10"] >= 0 and d["ndcg@10"] >= 0 for v in per.values() for d in v.values())
    return {"per_group": per, "r10_diff": r10, "intrr_beats_flat": beats}


def table(rows: list[dict[str, Any]], group: str, dataset: str, part: str = "test") -> str:
    head = ["tokenizer", "model", "seed", "R@10", "N@10", "R@5", "N@5", "wall (min)"]
    rs = sorted((r for r in rows if r["group"] == group and not r["ablation"] and part in r),
                key=lambda r: (r["tokenizer"], MODELS.index(r["model"]), r["seed"]))
    lines = [[r["tokenizer"], r["model"], str(r["seed"]), *(fmt(r[part][k]) for k in TEST_KEYS),
              f"{r['wall_s'] / 60:.1f}"] for r in rs]
    for (g, tok, model), a in aggregate(rs, part).items():
        if g == group:
            lines.append([tok, f"**{model}**", f"mean ± std of {len(a['seeds'])}",
                          *(f"{fmt(a['mean'][k])} ± {fmt(a['std'][k])}" for k in TEST_KEYS), f"{a['wall_s'] / 60:.1f}"])
    for b in BASELINES:
        if rs:
            lines.append(["–", b, "–", *(fmt(mean([r[part][f"{b}/{k}"] for r in rs])) for k in TEST_KEYS), "–"])
    if dataset == "beauty" and part == "test":
        lines += [["–", p["label"], "–", fmt(p["recall@10"]), fmt(p["ndcg@10"]), "–", "–", "–"] for p in PUBLISHED_BEAUTY]
    title = "test" if part == "test" else "test, history items left out"
    return f"### {group} ({title})\n\n" + markdown_table(head, lines)


def ablation_table(rows: list[dict[str, Any]]) -> str:
    abl = [r for r in rows if r["ablation"]]
    if not abl:
        return ""
    first = abl[0]
    full = [r for r in rows if not r["ablation"] and r["model"] == "intrr" and r["group"] == first["group"]
            and r["tokenizer"] == first["tokenizer"] and r["seed"] == first["seed"]]
    lines = [[name, fmt(r["test"]["recall@10"]), fmt(r["test"]["ndcg@10"]), fmt(PUBLISHED_ABLATION_N10[name])]
             for name, r in [("full", x) for x in full] + [(r["ablation"], r) for r in abl]]
    title = f"### intrr ablations: {first['group']}, {first['tokenizer']}, seed {first['seed']} (test)\n\n"
    return title + markdown_table(["variant", "R@10", "N@10", "published N@10 (Beauty)"], lines)


def tables(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    parts = [table(rows, group_name(d, t), d) for d, t in groups(args)]
    if any("test_xh" in r for r in rows):
        parts += [table(rows, group_name(d, t), d, "test_xh") for d, t in groups(args)]
    return "\n\n".join([*parts, ablation_table(rows)]).strip()


def summarize(path: Path, args: argparse.Namespace, rows: list[dict[str, Any]], done: bool) -> dict[str, Any]:
    cmp = comparison(rows, args)
    return write_summary(path, done, {
        **invocation(args, exclude=("data_files",)),
        "runs": rows,
        "aggregate": [{"group": g, "tokenizer": t, "model": m, **a} for (g, t, m), a in aggregate(rows).items()],
        "comparison": cmp,
        "comparison_exclude_history": comparison(rows, args, "test_xh"),
        "intrr_beats_flat": cmp["intrr_beats_flat"],
        "table_markdown": tables(rows, args),
    })


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    from sidkit.api import get_registry

    registry = get_registry()
    bases = {g: base_config(*g, args) for g in groups(args)}
    intrrs = {g: intrr_table(base, args) for g, base in bases.items()}
    runs = planned_runs(args)
    resolved = resolve_all(((run_config(bases[(r.dataset, r.ties)], intrrs[(r.dataset, r.ties)], r, args),
                             DATASETS[r.dataset].config) for r in runs), registry)
    if resolved is None:
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    rows: list[dict[str, Any]] = []
    for i, (run, cfg) in enumerate(zip(runs, resolved, strict=True), 1):
        run_dir = run.directory(args.out)
        donors = [o.directory(args.out) for o in runs[: i - 1] if (o.group, o.tokenizer, o.seed) ==
                  (run.group, run.tokenizer, run.seed)]
        if share_stages(run_dir, donors):
            log.info("[%d/%d] encoder and tokenizer stages copied from a finished run", i, len(runs))
        log.info("[%d/%d] %s %s %s seed=%d %s -> %s", i, len(runs), run.group, run.tokenizer, run.model, run.seed,
                 run.ablation or "", run_dir)
        row = {"group": run.group, "dataset": run.dataset, "ties": run.ties, "tokenizer": run.tokenizer,
               "model": run.model, "seed": run.seed, "ablation": run.ablation, "run_dir": str(run_dir),
               **run_timed(cfg, run_dir, registry)}
        log.info("[%d/%d] %s", i, len(runs), done_message(row))
        if args.exclude_history and not run.ablation:
            row["test_xh"] = rerank_excluding_history(run, run_dir, bases, intrrs, args, registry)
        rows.append(row)
        summarize(summary_path, args, rows, done=False)

    summary = summarize(summary_path, args, rows, done=True)
    print(summary["table_markdown"])
    print()
    for tok, per in summary["comparison_exclude_history"]["per_group"].items():
        for group, d in per.items():
            print(f"{group} {tok}, history items left out: intrr - decoder-only R@10 {d['recall@10']:+.4f} "
                  f"N@10 {d['ndcg@10']:+.4f}")
    for tok, per in summary["comparison"]["per_group"].items():
        for group, d in per.items():
            print(f"{group} {tok}: intrr - decoder-only R@10 {d['recall@10']:+.4f} N@10 {d['ndcg@10']:+.4f}")
    print(f"summary: {summary_path}")
    for tok in TOKENIZERS:
        print(f"intrr_minus_flat_r10_{tok}={summary['comparison']['r10_diff'][tok]:+.4f}")
    print(f"intrr_beats_flat={'true' if summary['intrr_beats_flat'] else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
