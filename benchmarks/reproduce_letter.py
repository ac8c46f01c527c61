"""Compare TIGER on RQ-VAE Semantic IDs with TIGER on LETTER Semantic IDs (Beauty, ML-100K).

LETTER (Wang et al., CIKM 2024) regularises an RQ-VAE tokenizer towards collaborative
(SASRec) item embeddings. This script runs both tokenizers, ``rqvae`` and ``letter``, with
everything else equal, on every ``--datasets`` (``beauty`` = Amazon Beauty under
``examples/beauty-tiger.toml``, ``ml100k`` = MovieLens-100K under
``examples/ml100k-tiger.toml``) x ``--seeds``, through :func:`sidkit.api.run_pipeline`, one
output directory per run under ``OUT/<dataset>/``. A re-run with the same options reuses the
stages that are already done.

Every run uses the same encoder: ``content+collab`` with ``output = "content"``. Its content
encoder is the dataset's ``hf-text`` table from the example config (same model and
template), its collaborative encoder a 32-d ``sasrec`` (LETTER's width, equal to the
tokenizers' 32-d latent) trained with the full-softmax loss (``ce``) on the training split
for at most ``--sasrec-epochs`` epochs with early stopping (default: the encoder's 30).
The encoder stage is computed once per dataset and seed: the second tokenizer's run starts
with a copy of the first one's finished ``encoder/`` stage (embeddings and ``stage.json``),
which the pipeline reuses only when its fingerprint (config, seed, split) matches.
``--tokenizers`` runs a subset, so that two processes can share the cores: start ``rqvae``,
then ``letter`` once the first one's ``encoder/stage.json`` exists (it copies that stage).
A last run with both tokenizers and all seeds reuses every finished run and prints the table.

- ``rqvae`` quantises ``values`` (= the content embeddings), with the config's code space
  (levels, codebook size, de-dup: Beauty 3 x 256, ML-100K 3 x 64, plus TIGER's de-dup
  digit) and its own defaults otherwise (AdaGrad, lr 1e-3).
- ``letter`` quantises ``views["content"]`` and pulls the quantised latents towards
  ``views["collaborative"]`` with weight ``cf_weight`` (``--cf-weight``; default 0.1 on
  Beauty, the authors' value there, 0.01 elsewhere). It takes the config's codebook size
  and de-dup and keeps its own defaults otherwise, the authors': 4 levels (the 4th chosen by
  Sinkhorn-balanced assignment), AdamW, diversity loss, Sinkhorn collision rounds.
  ``--set tokenizer.levels=N`` gives both tokenizers the same number of levels.
- Both train ``--rqvae-steps`` steps (default 3000). The ``tiger`` generator, beam search
  and evaluation are those of the example config, changed only by the options passed
  (``--epochs``, ``--d-model``, ``--d-ff``, ``--layers``, ``--max-len``, ``--beam``), and the
  same for both tokenizers. The example configs' budgets: Beauty GRID's defaults (T5 4 + 4
  layers, d_model 128, d_ff 1024, 20 epochs, beam 20); ML-100K its CPU-sized model (2 + 2
  layers, d_model 64, d_ff 256, 10 epochs, beam 20).

It prints one markdown table per dataset: a row per run with test Recall/NDCG@10 and @5, a
``mean ± std`` row per tokenizer (std over the seeds, ddof = 1; 0 for a single seed), the
``markov`` and ``mostpop`` baselines of the same split (from ``metrics.json``) and, for
Beauty, the published LETTER-TIGER and TIGER rows of the LETTER paper. It writes the same
data to ``OUT/summary.json``. The last line is ``letter_beats_rqvae=<true|false>``: true
when on every dataset in ``--datasets`` the mean test R@10 of ``letter`` is above that of
``rqvae``.

GPU run (full budget: 2 datasets x 2 tokenizers x 3 seeds = 12 runs)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_letter.py --device cuda

Reduced CPU run (smaller model, fewer epochs and steps; hours, not days)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_letter.py --device cpu \\
        --epochs 3 --d-model 64 --d-ff 256 --layers 2 --max-len 10 --beam 10 \\
        --rqvae-steps 600 --sasrec-epochs 10 --out runs/reproduce-letter-cpu

Smoke test (ML-100K, one seed, a few minutes on 2 CPU cores; the metrics mean nothing)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_letter.py --device cpu \\
        --datasets ml100k --seeds 0 --epochs 1 --d-model 32 --d-ff 64 --layers 1 \\
        --max-len 5 --rqvae-steps 50 --sasrec-epochs 2 \\
        --set generator.train.max_steps=30 --out runs/reproduce-letter-smoke

The data is looked up in ``../shared/data`` next to the repository
(``amazon-beauty/Beauty.inter.tsv`` and ``amazon-beauty/Beauty.items.jsonl``;
``ml-100k/u.data`` and ``ml-100k/u.item``). Use ``--data-dir`` to point elsewhere, and
``--set KEY=VALUE`` for any other config override, applied to every run (e.g.
``--set encoder.content.model=google/flan-t5-xl``, ``--set encoder.collaborative.windows=all``).
"""

from __future__ import annotations

import argparse
import copy
import logging
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
    set_tiger_options,
    setup_logging,
    write_summary,
)


@dataclass(frozen=True)
class Dataset:
    label: str
    config: Path
    folder: str  # under --data-dir
    files: tuple[str, ...]  # that must be there
    folder_is_path: bool  # data.path = the folder (movielens) or data.path / data.items = the files
    cf_weight: float  # letter's default α on this dataset
    published: tuple[dict[str, Any], ...] = ()


# the LETTER paper (Wang et al., CIKM 2024), Amazon Beauty, test set
PUBLISHED_BEAUTY = (
    {"label": "LETTER-TIGER published (LETTER paper)", "recall@10": 0.0672, "ndcg@10": 0.0364},
    {"label": "TIGER published (LETTER paper)", "recall@10": 0.0610, "ndcg@10": 0.0331},
)
DATASETS = {
    "beauty": Dataset("Amazon Beauty", REPO / "examples" / "beauty-tiger.toml", "amazon-beauty",
                      ("Beauty.inter.tsv", "Beauty.items.jsonl"), False, 0.1, PUBLISHED_BEAUTY),
    "ml100k": Dataset("MovieLens-100K", REPO / "examples" / "ml100k-tiger.toml", "ml-100k",
                      ("u.data", "u.item"), True, 0.01),
}
TOKENIZERS = ("rqvae", "letter")
# what the config's tokenizer table passes on (TokenizerConfig's fields); letter keeps its 4 levels
SHARED_TOKENIZER_KEYS = {"rqvae": ("levels", "codebook_size", "dedup", "seed"),
                         "letter": ("codebook_size", "dedup", "seed")}
SASREC_HIDDEN = 32  # LETTER's SASRec width = the tokenizers' latent_dim
TEST_KEYS = ("recall@10", "ndcg@10", "recall@5", "ndcg@5")
BASELINES = ("markov", "mostpop")

log = logging.getLogger("reproduce_letter")


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Options left out keep the example configs' values (see the module docstring for full and reduced runs).",
    )
    p.add_argument("--datasets", nargs="+", choices=tuple(DATASETS), default=list(DATASETS),
                   help="datasets (default: beauty ml100k)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="run seeds (default: 0 1 2)")
    p.add_argument("--tokenizers", nargs="+", choices=TOKENIZERS, default=list(TOKENIZERS),
                   help="tokenizers to run (default: both); a process per tokenizer shares the cores, "
                        "and a later run with both reuses every finished run")
    p.add_argument("--epochs", type=positive_int, help="generator training epochs (Beauty: 20, ML-100K: 10)")
    p.add_argument("--d-model", type=positive_int, help="T5 d_model (Beauty: 128, ML-100K: 64)")
    p.add_argument("--layers", type=positive_int, help="T5 encoder and decoder layers, each (Beauty: 4, ML-100K: 2)")
    p.add_argument("--d-ff", type=positive_int, help="T5 feed-forward size (Beauty: 1024, ML-100K: 256)")
    p.add_argument("--max-len", type=positive_int, help="history items, split and model (default: 20)")
    p.add_argument("--rqvae-steps", type=positive_int, help="rqvae and letter training steps (default: 3000)")
    p.add_argument("--sasrec-epochs", type=positive_int,
                   help="at most that many SASRec epochs for the collaborative embeddings (default: 30, early stopping)")
    p.add_argument("--cf-weight", type=non_negative_float,
                   help="letter's cf_weight on every dataset (default: 0.1 on Beauty, 0.01 otherwise)")
    p.add_argument("--beam", type=positive_int, help="beam width (default: 20; at least the largest cutoff: Beauty 10, ML-100K 20)")
    p.add_argument("--device", help="run.device: auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--out", type=Path, default=Path("runs/reproduce-letter"),
                   help="output folder: OUT/<dataset>/<tokenizer>-tiger-seed<seed> per run, plus summary.json")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="folder holding amazon-beauty/Beauty.inter.tsv, amazon-beauty/Beauty.items.jsonl, "
                        f"ml-100k/u.data and ml-100k/u.item (default: {DEFAULT_DATA_DIR})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every run (repeatable), as sidkit run --set")
    p.add_argument("--progress", action="store_true", help="show progress bars (default: log lines only)")
    args = p.parse_args(argv)

    args.datasets = list(dict.fromkeys(args.datasets))
    args.seeds = list(dict.fromkeys(args.seeds))
    args.tokenizers = [t for t in TOKENIZERS if t in args.tokenizers]
    args.data_files = {
        name: find_data(p, args.data_dir, DATASETS[name].label, DATASETS[name].folder, DATASETS[name].files)
        for name in args.datasets
    }
    return args


# -- configs ---------------------------------------------------------------------------------


def data_paths(name: str, args: argparse.Namespace) -> dict[str, str]:
    """The data table's paths for the files found in ``--data-dir``."""
    files = args.data_files[name]
    if DATASETS[name].folder_is_path:
        return {"path": str(files[0].parent)}
    return {"path": str(files[0]), "items": str(files[1])}


def base_config(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The dataset's example config as a dict (paths absolute), pointed at its data."""
    raw = read_config(DATASETS[name].config)
    raw.setdefault("data", {}).update(data_paths(name, args))
    return raw


def encoder_table(base: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``content+collab``: the config's encoder table (hf-text) as content, a 32-d
    full-softmax SASRec as the collaborative view, the content as ``values``."""
    collaborative: dict[str, Any] = {"name": "sasrec", "hidden": SASREC_HIDDEN, "loss": "ce"}
    if args.sasrec_epochs is not None:
        collaborative["train"] = {"epochs": args.sasrec_epochs}
    return {"name": "content+collab", "output": "content",
            "content": dict(base["encoder"]), "collaborative": collaborative}


def tokenizer_table(base: dict[str, Any], name: str, dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    """The config's code space (see SHARED_TOKENIZER_KEYS) and the options passed."""
    source = base.get("tokenizer", {})
    table = {"name": name, **{k: source[k] for k in SHARED_TOKENIZER_KEYS[name] if k in source}}
    if args.rqvae_steps is not None:
        table["steps"] = args.rqvae_steps
    if name == "letter":
        table["input"] = "content"
        table["cf_weight"] = DATASETS[dataset].cf_weight if args.cf_weight is None else args.cf_weight
    return table


def run_config(base: dict[str, Any], dataset: str, tokenizer: str, seed: int,
               args: argparse.Namespace) -> dict[str, Any]:
    """The raw config of one run: only what the user passed is changed."""
    raw = copy.deepcopy(base)
    set_run_options(raw, seed, args)
    raw["encoder"] = encoder_table(base, args)
    raw["tokenizer"] = tokenizer_table(base, tokenizer, dataset, args)
    set_tiger_options(raw, args)
    return apply_sets(raw, args)


# -- results ---------------------------------------------------------------------------------


def std(values: list[float]) -> float:
    """Sample standard deviation (ddof = 1); 0 for a single value."""
    if not values:
        return float("nan")
    return statistics.stdev(values) if len(values) >= 2 else 0.0


def aggregate(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Mean and std over seeds of the test metrics, per (dataset, tokenizer)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["tokenizer"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        out[key] = {
            "mean": {k: mean([r["test"][k] for r in rs]) for k in TEST_KEYS},
            "std": {k: std([r["test"][k] for r in rs]) for k in TEST_KEYS},
            "valid/ndcg@10": mean([r["valid"]["ndcg@10"] for r in rs]),
            "wall_s": mean([r["wall_s"] for r in rs]),
            "seeds": [r["seed"] for r in rs],
            "n_seeds": len(rs),
        }
    return out


def baselines(rows: list[dict[str, Any]], dataset: str) -> dict[str, dict[str, float]]:
    """``markov`` and ``mostpop`` test metrics of the dataset's runs (the same split every run)."""
    rs = [r for r in rows if r["dataset"] == dataset]
    return {b: {k: mean([r["test"][f"{b}/{k}"] for r in rs]) for k in TEST_KEYS} for b in BASELINES} if rs else {}


def comparison(rows: list[dict[str, Any]], datasets: Sequence[str]) -> dict[str, Any]:
    """Per dataset: the mean test R@10 of both tokenizers; ``met`` when letter's is higher on
    every dataset (a dataset without both tokenizers' runs counts as not met)."""
    agg = aggregate(rows)
    per = {}
    for d in datasets:
        r10 = {t: agg[(d, t)]["mean"]["recall@10"] if (d, t) in agg else None for t in TOKENIZERS}
        per[d] = {"mean_test_recall@10": r10,
                  "letter_better": None not in r10.values() and r10["letter"] > r10["rqvae"]}
    return {"met": bool(per) and all(v["letter_better"] for v in per.values()), "datasets": per}


def table(rows: list[dict[str, Any]], dataset: str) -> str:
    head = ["tokenizer", "seed", "R@10", "N@10", "R@5", "N@5"]
    rs = sorted((r for r in rows if r["dataset"] == dataset),
                key=lambda r: (TOKENIZERS.index(r["tokenizer"]), r["seed"]))
    lines = [[r["tokenizer"], str(r["seed"]), *(fmt(r["test"][k]) for k in TEST_KEYS)] for r in rs]
    agg = aggregate(rs)
    for tok in TOKENIZERS:
        if (dataset, tok) in agg:
            a = agg[(dataset, tok)]
            lines.append([tok, f"mean ± std of {a['n_seeds']}",
                          *(f"{fmt(a['mean'][k])} ± {fmt(a['std'][k])}" for k in TEST_KEYS)])
    for name, m in baselines(rs, dataset).items():
        lines.append([name, "–", *(fmt(m[k]) for k in TEST_KEYS)])
    for pub in DATASETS[dataset].published:
        lines.append([pub["label"], "–", *(fmt(pub.get(k)) for k in TEST_KEYS)])
    return f"### {DATASETS[dataset].label} (test)\n\n" + markdown_table(head, lines)


def tables(rows: list[dict[str, Any]], datasets: Sequence[str]) -> str:
    return "\n\n".join(table(rows, d) for d in datasets)


def summarize(path: Path, args: argparse.Namespace, rows: list[dict[str, Any]], done: bool) -> dict[str, Any]:
    cmp = comparison(rows, args.datasets)
    return write_summary(path, done, {
        "datasets": {
            d: {"label": DATASETS[d].label, "config": str(DATASETS[d].config), "data": data_paths(d, args),
                "cf_weight": DATASETS[d].cf_weight if args.cf_weight is None else args.cf_weight,
                "published": list(DATASETS[d].published), "baselines": baselines(rows, d)}
            for d in args.datasets
        },
        **invocation(args, exclude=("data_files",)),
        "runs": rows,
        "aggregate": [{"dataset": d, "tokenizer": t, **a} for (d, t), a in aggregate(rows).items()],
        "comparison": cmp,
        "letter_beats_rqvae": cmp["met"],
        "table_markdown": tables(rows, args.datasets),
    })


# -- main ------------------------------------------------------------------------------------


def share_encoder_stage(run_dir: Path, donors: Sequence[Path]) -> bool:
    """Give ``run_dir`` the finished encoder stage of the first donor that has one, unless
    it has its own. Only the outputs travel (``embeddings.safetensors``, ``stage.json``);
    the pipeline checks the fingerprint and recomputes the stage when it does not match."""
    import shutil

    target = run_dir / "encoder"
    if (target / "stage.json").exists():
        return False
    for donor in donors:
        source = donor / "encoder"
        if (source / "stage.json").exists() and (source / "embeddings.safetensors").exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / "embeddings.safetensors", target / "embeddings.safetensors")
            shutil.copy2(source / "stage.json", target / "stage.json")  # last: marks the copy complete
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()

    from sidkit.api import get_registry

    registry = get_registry()
    bases = {d: base_config(d, args) for d in args.datasets}
    runs = [(d, tok, seed) for d in args.datasets for seed in args.seeds for tok in args.tokenizers]
    # resolve every config first: a typo fails now, not after hours of training
    resolved = resolve_all(((run_config(bases[d], d, tok, seed, args), DATASETS[d].config)
                            for d, tok, seed in runs), registry)
    if resolved is None:
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    rows: list[dict[str, Any]] = []
    for i, ((d, tok, seed), cfg) in enumerate(zip(runs, resolved, strict=True), 1):
        run_dir = args.out / d / f"{tok}-tiger-seed{seed}"
        donors = [args.out / d / f"{other}-tiger-seed{seed}" for other in TOKENIZERS if other != tok]
        if share_encoder_stage(run_dir, donors):
            log.info("[%d/%d] encoder stage copied from a finished run with the same seed", i, len(runs))
        log.info("[%d/%d] dataset=%s tokenizer=%s seed=%d -> %s", i, len(runs), d, tok, seed, run_dir)
        row = {"dataset": d, "tokenizer": tok, "generator": "tiger", "seed": seed, "run_dir": str(run_dir),
               **run_timed(cfg, run_dir, registry)}
        log.info("[%d/%d] %s", i, len(runs), done_message(row))
        rows.append(row)
        summarize(summary_path, args, rows, done=False)  # partial results survive a crash

    summary = summarize(summary_path, args, rows, done=True)
    cmp = summary["comparison"]["datasets"]
    print(summary["table_markdown"])
    print()
    for d, c in cmp.items():
        r10 = c["mean_test_recall@10"]
        print(f"{d}: mean test R@10 letter {fmt(r10['letter'])} vs rqvae {fmt(r10['rqvae'])}")
    print(f"summary: {summary_path}")
    print(f"letter_beats_rqvae={'true' if summary['letter_beats_rqvae'] else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
