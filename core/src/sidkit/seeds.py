"""Multi-seed runs (``sidkit run CONFIG --seeds 0,1,2``): one run directory per seed and a
summary over them.

``DIR/seed-<s>/`` is an ordinary run directory (re-running reuses its stages).
``DIR/summary.json`` holds, per split and metric, the mean, the sample standard deviation and
every seed's value, and a paired test of the model against the Markov baseline on the test
users: each user's Recall@K averaged over the seeds against Markov's on the same user,
two-sided Wilcoxon signed-rank (``scipy.stats.wilcoxon``; users where both tie are dropped).
``DIR/summary.md`` is the same as a table.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .artifacts import atomic_write_text, load_arrays, write_json
from .config import PipelineConfig
from .registry import Registry

__all__ = ["run_seeds", "summarize", "parse_seeds"]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` (or spaces) -> ``[0, 1, 2]``; a ``ValueError`` for anything else."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"seeds must be integers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct non-negative integers, e.g. 0,1,2; got {text!r}")
    return seeds


def _per_user_recall(items: np.ndarray, targets: Any, k: int) -> np.ndarray:
    from .metrics import hit_positions

    rows, _, n_pos = hit_positions(items[:, :k], targets)
    hits = np.bincount(rows, minlength=len(n_pos)).astype(float)
    return hits / np.maximum(n_pos, 1)


def _paired_test(config: PipelineConfig, out: Path, seeds: Sequence[int], k: int) -> dict[str, Any]:
    """Per test user, the model's Recall@k (mean over seeds) against Markov's."""
    from scipy.stats import wilcoxon

    from .data import load_from_config
    from .metrics import markov_rankings
    from .pipeline import build_split

    dataset = load_from_config(config.data.config, config.data.format)
    split = build_split(dataset, config.split)
    model = np.mean([
        _per_user_recall(load_arrays(out / f"seed-{s}" / "rankings" / "test.safetensors")["items"], split.test.targets, k)
        for s in seeds
    ], axis=0)
    markov = markov_rankings(
        split.train, split.n_items, split.test, k, fit_extra=split.valid, train_users=split.train_users, user_rank=dataset.user_rank,
    )
    base = _per_user_recall(markov.items, split.test.targets, k)
    diff = model - base
    result: dict[str, Any] = {
        "metric": f"recall@{k}", "baseline": "markov", "n_users": int(len(diff)),
        "model_mean": float(model.mean()), "baseline_mean": float(base.mean()), "mean_diff": float(diff.mean()),
        "better": int((diff > 0).sum()), "worse": int((diff < 0).sum()),
    }
    if np.any(diff != 0):
        test = wilcoxon(model, base, zero_method="wilcox", alternative="two-sided")
        result.update(statistic=float(test.statistic), p=float(test.pvalue))
    else:
        result.update(statistic=None, p=None)
    return result


def summarize(config: PipelineConfig, out: Path, seeds: Sequence[int], metrics: Sequence[dict[str, dict[str, float]]], k: int) -> dict[str, Any]:
    """The summary of finished seed runs (``metrics[i]``: seed ``seeds[i]``'s metrics.json)."""
    table: dict[str, dict[str, Any]] = {}
    for split in metrics[0]:
        table[split] = {}
        for key in metrics[0][split]:
            values = [float(m[split][key]) for m in metrics]
            table[split][key] = {
                "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0, "seeds": values,
            }
    return {"seeds": list(seeds), "metrics": table, "paired_test": _paired_test(config, out, seeds, k)}


def _markdown(summary: dict[str, Any]) -> str:
    seeds = summary["seeds"]
    lines = [f"# Seeds {', '.join(map(str, seeds))}", "", "| metric | split | mean ± std | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|---|" + "---|" * len(seeds)]
    for split, rows in summary["metrics"].items():
        for key, row in sorted(rows.items(), key=lambda kv: (kv[0].count("/"), kv[0])):
            lines.append(f"| {key} | {split} | {row['mean']:.4f} ± {row['std']:.4f} | " + " | ".join(f"{v:.4f}" for v in row["seeds"]) + " |")
    t = summary["paired_test"]
    p = "–" if t["p"] is None else f"{t['p']:.3g}"
    lines += ["", f"Paired test on {t['metric']} per test user (model: mean over seeds) against `{t['baseline']}/`: "
              f"{t['model_mean']:.4f} vs {t['baseline_mean']:.4f} (difference {t['mean_diff']:+.4f}; {t['better']} users better, "
              f"{t['worse']} worse, of {t['n_users']}); two-sided Wilcoxon signed-rank p = {p}."]
    return "\n".join(lines) + "\n"


def run_seeds(config: PipelineConfig, out: str | Path, seeds: Sequence[int], *, registry: Registry | None = None) -> dict[str, Any]:
    """Run ``config`` once per seed into ``out/seed-<s>`` and write ``out/summary.json`` and
    ``out/summary.md``; returns the summary."""
    from .pipeline import Pipeline

    out = Path(out)
    metrics = []
    for seed in seeds:
        seeded = attrs.evolve(config, run=attrs.evolve(config.run, seed=seed))
        metrics.append(Pipeline(seeded, out / f"seed-{seed}", registry=registry).run().metrics)
    k = max(int(key.split("@")[1]) for key in metrics[0]["test"] if key.startswith("recall@"))
    summary = summarize(config, out, seeds, metrics, k)
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", _markdown(summary))
    return summary
