"""Time to quality: validation Recall@10 against wall-clock minutes of one pipeline run.

Runs CONFIG end to end (``sidkit.pipeline.run_pipeline``, the same ``--set KEY=VALUE``
overrides as ``sidkit run``) into ``<out>/run`` and reads the generator's training history:
every validated epoch is one point ``(minutes since the run started, valid/recall@10)``. The
clock starts right before ``run_pipeline`` is called, so data loading, the encoder and the
tokenizer count too; each point is taken at the epoch's ``finished_at`` (after its validation).

Reference lines come from :func:`sidkit.metrics.baseline_metrics` on the validation split,
for both tie orders of same-timestamp interactions where the data format has a ``ties``
option: ``keep`` (file order, which leaks the order on e.g. Amazon Beauty) and ``shuffle``
(``tie_seed`` as configured). The model itself is validated on the configured order.
``minutes_to_markov_shuffle`` is the first point whose validation R@10 exceeds the shuffled
Markov validation R@10 (``inf`` when none does).

Writes ``<out>/time_to_quality.json`` and ``<out>/time_to_quality.png``. ``--plot-with
a.json b.json`` overlays other runs' curves in the same figure; ``--plot-only`` only redraws
from JSON files (CONFIG, if given, is then the first JSON). Last three lines printed::

    minutes_to_markov_shuffle=<float or inf>
    test_recall@10=<x>
    test_ndcg@10=<x>

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/time_to_quality.py examples/beauty-tiger.toml \\
        --out runs/ttq/beauty-tiger --threads 1 --seed 0 [--set generator.train.epochs=5 ...]
    .venv/bin/python benchmarks/time_to_quality.py --plot-only runs/ttq/a/time_to_quality.json \\
        --plot-with runs/ttq/b/time_to_quality.json runs/ttq/c/time_to_quality.json --out runs/ttq
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import machine_facts, positive_int, setup_logging

log = logging.getLogger("time_to_quality")

JSON_NAME, PNG_NAME = "time_to_quality.json", "time_to_quality.png"
RECALL, NDCG = "recall@10", "ndcg@10"
TIE_ORDERS = ("keep", "shuffle")


class TTQError(Exception):
    """A problem worth one clear line (no traceback)."""


# -- pure helpers (tested in tests/test_benchmarks_smoke.py) ----------------------------------


def _history_value(record: Mapping[str, Any], name: str, monitor: str | None) -> float | None:
    """``valid/<name>`` of a history record; the bare ``<name>`` only when it is the
    monitored metric (what the shared loop records before :class:`sidkit.training.Monitor`)."""
    if f"valid/{name}" in record:
        return float(record[f"valid/{name}"])
    if monitor == name and name in record:
        return float(record[name])
    return None


def curve_points(
    history: Sequence[Mapping[str, Any]], started: float, monitor: str | None = None
) -> list[dict[str, Any]]:
    """One point per validated epoch: ``{epoch, minutes, valid_recall@10, valid_ndcg@10}``,
    ``minutes`` from ``started`` (unix time) to the record's ``finished_at``.

    Raises :class:`TTQError` when no record has a validation Recall@10 (saying what the
    records hold instead) or a validated record lacks ``finished_at``."""
    points = []
    for record in history:
        recall = _history_value(record, RECALL, monitor)
        if recall is None:
            continue
        if "finished_at" not in record:
            raise TTQError(
                f"epoch {record.get('epoch')} of the generator history has no 'finished_at' "
                "(the shared training loop of this sidkit is too old to time epochs)"
            )
        points.append({
            "epoch": int(record["epoch"]),
            "minutes": (float(record["finished_at"]) - started) / 60.0,
            f"valid_{RECALL}": recall,
            f"valid_{NDCG}": _history_value(record, NDCG, monitor),
        })
    if points:
        return points
    valid_keys = sorted({k for r in history for k in r if k.startswith("valid/")})
    if valid_keys:
        raise TTQError(
            f"the generator history has no 'valid/{RECALL}' (validated metrics: {', '.join(valid_keys)}); "
            "add 10 to the evaluator's ks, e.g. --set 'evaluator.ks=[5, 10]'"
        )
    if not history:
        raise TTQError("the generator recorded no training history")
    raise TTQError(
        f"no validation metrics in the generator history ({len(history)} epochs, keys: "
        f"{', '.join(sorted({k for r in history for k in r}))}): the generator does not record 'valid/<metric>' "
        "(sidkit.training.Monitor) or never validated"
    )


def minutes_to_exceed(points: Sequence[Mapping[str, Any]], threshold: float, key: str = f"valid_{RECALL}") -> float:
    """Minutes of the first point whose ``key`` is strictly above ``threshold``; ``inf`` if none."""
    for p in points:
        if p[key] is not None and p[key] > threshold:
            return float(p["minutes"])
    return math.inf


def reference_lines(doc: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The horizontal lines of one result: ``(name, validation R@10)`` for Markov with
    shuffled ties, Markov with file-order ties (when known) and MostPop."""
    lines = []
    ref = doc.get("reference", {})
    shuffled_name = "Markov (shuffled ties)" if doc.get("baselines", {}).get("ties_option", True) else "Markov"
    for name, key in ((shuffled_name, "markov_shuffle"), ("Markov (file-order ties)", "markov_keep"),
                      ("MostPop", "mostpop")):
        value = ref.get(f"{key}_valid_{RECALL}")
        if value is not None:
            lines.append((name, float(value)))
    return lines


def _fmt_minutes(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3f}"


# -- the run ---------------------------------------------------------------------------------


def _evaluator_ks(cfg: Any) -> list[int] | None:
    choice = cfg.component("evaluator")
    ks = getattr(choice.config, "ks", None) if choice is not None else None
    return None if ks is None else [int(k) for k in ks]


def _load_split(cfg: Any, data_config: Any) -> tuple[Any, Any]:
    from sidkit.data import load_from_config
    from sidkit.pipeline import build_split

    dataset = load_from_config(data_config, cfg.data.format)
    return dataset, build_split(dataset, cfg.split)


def tie_baselines(cfg: Any) -> dict[str, Any]:
    """MostPop and Markov (valid and test, @10) on the configured split for each tie order.

    With a ``ties`` option: ``keep`` and ``shuffle`` (``tie_seed`` as configured), plus the
    configured order when it is a third one (``item-id``); without: the split as loaded."""
    import attrs
    from sidkit.metrics import baseline_metrics

    data_config = cfg.data.config
    has_ties = attrs.has(type(data_config)) and "ties" in attrs.fields_dict(type(data_config))
    out: dict[str, Any] = {"format": cfg.data.format, "ties_option": has_ties, "by_ties": {}}
    if has_ties:
        out["ties_configured"] = data_config.ties
        out["tie_seed"] = data_config.tie_seed
        orders = list(TIE_ORDERS) + ([data_config.ties] if data_config.ties not in TIE_ORDERS else [])
        variants = {t: attrs.evolve(data_config, ties=t) for t in orders}
    else:
        out["ties_configured"] = None
        out["note"] = f"data format {cfg.data.format!r} has no ties option: the split as loaded"
        variants = {"as_loaded": data_config}
    for name, variant in variants.items():
        t = time.perf_counter()
        dataset, split = _load_split(cfg, variant)
        out["by_ties"][name] = baseline_metrics(split, (10,), user_rank=dataset.user_rank)
        log.info("baselines with ties=%s: valid markov R@10 %.4f, mostpop R@10 %.4f (%.1fs)", name,
                 out["by_ties"][name]["valid"][f"markov/{RECALL}"], out["by_ties"][name]["valid"][f"mostpop/{RECALL}"],
                 time.perf_counter() - t)
    return out


def _reference(baselines: Mapping[str, Any], valid_metrics: Mapping[str, float]) -> dict[str, float | None]:
    by = baselines["by_ties"]
    own = by.get(baselines.get("ties_configured") or "as_loaded", {}).get("valid", {})
    shuffled = by.get("shuffle", by.get("as_loaded"))["valid"]
    keep = by.get("keep", {}).get("valid", {})
    return {
        f"markov_shuffle_valid_{RECALL}": shuffled[f"markov/{RECALL}"],
        f"markov_shuffle_valid_{NDCG}": shuffled[f"markov/{NDCG}"],
        f"markov_keep_valid_{RECALL}": keep.get(f"markov/{RECALL}"),
        f"markov_keep_valid_{NDCG}": keep.get(f"markov/{NDCG}"),
        # MostPop on the split the model is validated on (the configured tie order)
        f"mostpop_valid_{RECALL}": valid_metrics.get(f"mostpop/{RECALL}", own.get(f"mostpop/{RECALL}")),
        f"mostpop_valid_{NDCG}": valid_metrics.get(f"mostpop/{NDCG}", own.get(f"mostpop/{NDCG}")),
    }


def _generator_history(result: Any) -> list[dict[str, Any]]:
    gen = result.components.get("generator")
    history = list(getattr(gen, "history", None) or [])
    if not history:
        meta = result.run_dir / "generator" / "state" / "meta.json"
        if meta.is_file():
            history = list(json.loads(meta.read_text(encoding="utf-8")).get("history", []))
    return history


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from sidkit.config import load_config
    from sidkit.errors import SidkitError
    from sidkit.pipeline import run_pipeline
    from sidkit.registry import get_registry

    if args.threads:
        torch.set_num_threads(args.threads)
    config = Path(args.config)
    if not config.is_file():
        raise TTQError(f"{config}: no such config file")
    out = Path(args.out) if args.out else Path("runs") / "time_to_quality" / config.stem
    run_dir = out / "run"
    if run_dir.exists() and any(run_dir.iterdir()):
        raise TTQError(
            f"{run_dir} is not empty: its finished stages would be reused and the times would mean nothing; "
            "pass another --out or remove it"
        )
    overrides = list(args.set) + ([f"run.seed={args.seed}"] if args.seed is not None else [])
    registry = get_registry()
    try:
        cfg = load_config(config, registry, overrides)  # every config error before any work
    except SidkitError as exc:
        raise TTQError(str(exc)) from None
    ks = _evaluator_ks(cfg)
    if ks is not None and 10 not in ks:
        raise TTQError(f"the evaluator's ks {ks} lack 10, so there is no Recall@10 to follow; "
                       "add it, e.g. --set 'evaluator.ks=[5, 10]'")
    monitor = getattr(cfg.component("generator").config, "monitor", None)
    label = args.label or config.stem
    print(f"{label}: {config} seed {cfg.run.seed}, {torch.get_num_threads()} threads, run dir {run_dir}", flush=True)

    started = time.time()
    result = run_pipeline(cfg, out=run_dir, registry=registry)
    ended = time.time()

    points = curve_points(_generator_history(result), started, monitor)
    baselines = tie_baselines(cfg)
    configured = baselines["by_ties"].get(baselines.get("ties_configured") or "as_loaded")
    own_markov = result.metrics["valid"].get(f"markov/{RECALL}")
    reloaded = None if configured is None else configured["valid"][f"markov/{RECALL}"]
    if reloaded is not None and own_markov is not None and abs(reloaded - own_markov) > 1e-9:
        log.warning("the reloaded split's Markov R@10 %.6f differs from the run's %.6f", reloaded, own_markov)
    reference = _reference(baselines, result.metrics["valid"])
    to_markov = minutes_to_exceed(points, reference[f"markov_shuffle_valid_{RECALL}"])
    test = result.metrics["test"]
    doc = {
        "label": label,
        "config": str(config),
        "overrides": list(args.set),
        "seed": cfg.run.seed,
        "run_dir": str(run_dir),
        "command": " ".join(sys.argv),
        "machine": {**machine_facts(), "device": str(getattr(result.components.get("generator"), "device", "cpu"))},
        "started": started,
        "total_minutes": (ended - started) / 60.0,
        "timings_s": json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("timings_s"),
        "points": points,
        "reference": reference,
        "baselines": baselines,
        "minutes_to_markov_shuffle": None if math.isinf(to_markov) else to_markov,
        f"test_{RECALL}": test.get(RECALL),
        f"test_{NDCG}": test.get(NDCG),
        "valid": result.metrics["valid"],
        "test": test,
        "history": _generator_history(result),
    }
    from sidkit.artifacts import write_json

    write_json(out / JSON_NAME, doc)
    others = [load_doc(Path(p)) for p in args.plot_with]
    plot([doc, *others], out / PNG_NAME)
    _print_table(doc)
    print(f"wrote {out / JSON_NAME} and {out / PNG_NAME}")
    return doc


def _print_table(doc: Mapping[str, Any]) -> None:
    print(f"{'epoch':>5} {'minutes':>8} {'valid R@10':>10} {'valid N@10':>10}")
    for p in doc["points"]:
        ndcg = p[f"valid_{NDCG}"]
        print(f"{p['epoch']:>5} {p['minutes']:>8.2f} {p[f'valid_{RECALL}']:>10.4f} "
              f"{'-' if ndcg is None else f'{ndcg:.4f}':>10}")
    for name, value in reference_lines(doc):
        print(f"{name} valid R@10: {value:.4f}")
    print(f"total wall: {doc['total_minutes']:.2f} min")


# -- plotting --------------------------------------------------------------------------------


def load_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TTQError(f"{path}: cannot read a time-to-quality JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list):
        raise TTQError(f"{path}: not a {JSON_NAME} (no 'points')")
    doc.setdefault("label", Path(path).parent.name)
    return doc


def plot(docs: Sequence[Mapping[str, Any]], png: Path) -> None:
    """Validation R@10 vs minutes of every document, with the reference lines of each
    distinct dataset (dashed; labelled with the run when they differ between runs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for doc in docs:
        xs = [p["minutes"] for p in doc["points"]]
        ys = [p[f"valid_{RECALL}"] for p in doc["points"]]
        ax.plot(xs, ys, marker="o", markersize=3, label=str(doc["label"]))
    line_sets = [reference_lines(d) for d in docs]
    distinct = {tuple((n, round(v, 9)) for n, v in lines) for lines in line_sets}
    colors = {"Markov (shuffled ties)": "tab:red", "Markov": "tab:red", "Markov (file-order ties)": "tab:purple",
              "MostPop": "tab:gray"}
    dashes = [(0, (5, 3)), (0, (2, 2)), (0, (8, 2, 2, 2)), (0, (4, 1, 1, 1, 1, 1))]  # one per run's data
    drawn = set()
    for i, (doc, lines) in enumerate(zip(docs, line_sets, strict=True)):
        for name, value in lines:
            if (name, round(value, 9)) in drawn:
                continue
            drawn.add((name, round(value, 9)))
            suffix = f" [{doc['label']}]" if len(distinct) > 1 else ""
            ax.axhline(value, linestyle=dashes[i % len(dashes)], linewidth=1, color=colors.get(name, "black"),
                       label=f"{name}{suffix}: {value:.4f}")
    ax.set_xlabel("wall-clock minutes since the run started")
    ax.set_ylabel("validation Recall@10")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    machine = docs[0].get("machine", {}) if docs else {}
    if machine:
        where = f"{machine.get('cpu', '?')}, torch threads: {machine.get('threads', '?')}"
        ax.set_title(f"time to quality ({where})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def plot_only(args: argparse.Namespace) -> None:
    paths = ([Path(args.config)] if args.config else []) + [Path(p) for p in args.plot_with]
    if not paths:
        raise TTQError("--plot-only needs JSON files: CONFIG (as the first one) and/or --plot-with")
    docs = [load_doc(p) for p in paths]
    png = Path(args.png) if args.png else (Path(args.out) if args.out else paths[0].parent) / PNG_NAME
    plot(docs, png)
    for doc in docs:
        ttq = doc.get("minutes_to_markov_shuffle")
        print(f"{doc['label']}: {len(doc['points'])} points, minutes_to_markov_shuffle="
              f"{_fmt_minutes(math.inf if ttq is None else ttq)}")
    print(f"wrote {png}")


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config", nargs="?", help="pipeline TOML (with --plot-only: a time_to_quality.json)")
    p.add_argument("--out", help="output folder [runs/time_to_quality/<config name>]; the run goes to OUT/run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--seed", type=int, help="run.seed (applied after --set)")
    p.add_argument("--threads", type=positive_int, help="torch threads (default: torch's)")
    p.add_argument("--label", help="curve label [config name]")
    p.add_argument("--plot-with", nargs="+", default=[], metavar="JSON", help="other runs' JSON to overlay")
    p.add_argument("--plot-only", action="store_true", help="only redraw the PNG from JSON files")
    p.add_argument("--png", help="with --plot-only: the PNG to write [OUT or the first JSON's folder]/" + PNG_NAME)
    args = p.parse_args(argv)
    try:
        if args.plot_only:
            plot_only(args)
            return 0
        if not args.config:
            p.error("CONFIG is required (or --plot-only)")
        setup_logging()
        for path in args.plot_with:  # fail before a long run, not after
            load_doc(Path(path))
        doc = run(args)
    except TTQError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ttq = doc["minutes_to_markov_shuffle"]
    print(f"minutes_to_markov_shuffle={_fmt_minutes(math.inf if ttq is None else ttq)}")
    for key in (RECALL, NDCG):
        value = doc[f"test_{key}"]
        print(f"test_{key}={'nan' if value is None else f'{value:.4f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
