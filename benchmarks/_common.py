"""Helpers shared by the reproduction scripts (``reproduce_grid.py``, ``reproduce_letter.py``).

They find the shared data, turn a config file plus the scripts' reduced-budget options into
one raw config per run, resolve all of them before any training, run one pipeline with its
wall time, print markdown tables and write ``summary.json`` atomically. Everything that
imports sidkit does so inside the function, so ``--help`` and argument errors stay fast.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


# -- data and configs ------------------------------------------------------------------------


def find_data(parser: argparse.ArgumentParser, data_dir: Path, label: str, folder: str,
              names: Sequence[str]) -> list[Path]:
    """``data_dir/folder/<name>`` for every name, resolved; a parser error naming what is
    missing and how to point elsewhere when any of them is not a file."""
    files = [data_dir / folder / name for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        wanted = " and ".join(f"{folder}/{name}" for name in names)
        parser.error(
            f"{label} data not found: looked for {' and '.join(missing)} "
            f"(data dir {data_dir.resolve()}). Pass --data-dir DIR, the folder that holds {wanted}."
        )
    return [f.resolve() for f in files]


def read_config(path: Path) -> dict[str, Any]:
    """A config file as a dict, its relative paths made absolute against its folder."""
    from sidkit.config import read_toml, resolve_paths

    return resolve_paths(read_toml(path), path.resolve().parent)


def set_run_options(raw: dict[str, Any], seed: int, args: argparse.Namespace) -> None:
    """``[run]``: the seed, progress bars (``--progress``) and ``--device`` when given."""
    run = raw.setdefault("run", {})
    run["seed"] = seed
    run["progress"] = bool(args.progress)
    if args.device is not None:
        run["device"] = args.device


def set_tiger_options(raw: dict[str, Any], args: argparse.Namespace) -> None:
    """The ``tiger`` generator with the reduced-budget options that were passed (``--epochs``,
    ``--d-model``, ``--d-ff``, ``--layers``, ``--max-len``, ``--beam``); the rest keeps the
    config's values."""
    gen = raw.setdefault("generator", {})
    gen["name"] = "tiger"
    train = gen.setdefault("train", {})
    if args.epochs is not None:
        train["epochs"] = args.epochs
    if args.d_model is not None:
        gen["d_model"] = args.d_model
    if args.d_ff is not None:
        gen["d_ff"] = args.d_ff
    if args.layers is not None:
        gen["encoder_layers"] = gen["decoder_layers"] = args.layers
    if args.max_len is not None:
        gen["max_len"] = args.max_len
        raw.setdefault("split", {})["max_len"] = args.max_len
    if args.beam is not None:
        raw.setdefault("decoder", {"name": "beam"})["beam_width"] = args.beam


def apply_sets(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` overrides, applied last."""
    from sidkit.config import apply_overrides

    return apply_overrides(raw, args.set)


def resolve_all(configs: Iterable[tuple[dict[str, Any], Path]], registry: Any) -> list[Any] | None:
    """Resolve every ``(raw config, source file)``; on the first problem print it and return
    None. ``configs`` may be a generator: building a raw config (``--set``) can fail too."""
    from sidkit.api import resolve_config
    from sidkit.errors import SidkitError

    try:
        return [resolve_config(raw, registry, source=source) for raw, source in configs]
    except SidkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


# -- runs ------------------------------------------------------------------------------------


def run_timed(cfg: Any, run_dir: Path, registry: Any) -> dict[str, Any]:
    """One pipeline run: its test and validation metrics, wall time, reused stages and SID
    collision rate."""
    from sidkit.api import run_pipeline

    t0 = time.perf_counter()
    result = run_pipeline(cfg, out=run_dir, registry=registry)
    wall = time.perf_counter() - t0
    return {
        "test": result.metrics["test"], "valid": result.metrics["valid"], "wall_s": wall,
        "reused": result.reused, "sid_collision_rate": result.sid_stats.get("collision_rate"),
    }


def done_message(row: dict[str, Any]) -> str:
    test = row["test"]
    return (f"done in {row['wall_s']:.0f} s: test R@10 {test['recall@10']:.4f} N@10 {test['ndcg@10']:.4f} "
            f"(markov {test['markov/recall@10']:.4f} / {test['markov/ndcg@10']:.4f})")


# -- results ---------------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4f}"


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines.extend("| " + " | ".join(cells) + " |" for cells in rows)
    return "\n".join(lines)


def invocation(args: argparse.Namespace, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """``options`` (the parsed arguments but ``exclude``) and ``command`` for a summary."""
    return {"options": {k: v for k, v in vars(args).items() if k not in exclude}, "command": " ".join(sys.argv)}


def write_summary(path: Path, done: bool, fields: dict[str, Any]) -> dict[str, Any]:
    """``{"status": "done" | "running", **fields}`` written atomically to ``path``."""
    from sidkit.artifacts import write_json

    summary = {"status": "done" if done else "running", **fields}
    write_json(path, summary)
    return summary


# -- machine ---------------------------------------------------------------------------------


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's ``model name`` from ``/proc/cpuinfo`` (or the given text of it), else
    :func:`platform.processor`, else ``"unknown"``."""
    import platform

    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, Any]:
    """CPU model and count, Python, torch version and its thread count (JSON-ready)."""
    import os
    import platform

    import torch

    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
