"""One self-contained HTML page for a finished run directory.

Sections: the run (components, data, seed, status), the metrics table beside ``mostpop/``
and ``markov/``, the training curves of every stage that trained (loss, learning rate and
validation metrics per epoch, from ``<stage>/work/train_log.jsonl`` or the history a
component saved in ``<stage>/state/*.json``), the SIDs' code usage per level as heatmaps
with the collision counts per prefix depth, and the time of every stage. Figures are PNG
images embedded as data URIs, so the page needs nothing else.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from sidkit.artifacts import load_sids, read_json
from sidkit.errors import ArtifactError

__all__ = ["build_report", "training_history", "STAGES"]

STAGES = ("encoder", "tokenizer", "generator")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
"""


def _png(fig: Any) -> str:
    from matplotlib import pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def training_history(stage_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a stage: ``work/train_log.jsonl``, else a ``history`` list
    saved in a JSON file of ``state/`` (runs made before the log existed), else ``[]``."""
    log = stage_dir / "work" / "train_log.jsonl"
    if log.is_file():
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    for meta in sorted((stage_dir / "state").glob("*.json")) if (stage_dir / "state").is_dir() else []:
        try:
            history = read_json(meta).get("history")
        except (ArtifactError, AttributeError):
            continue
        if isinstance(history, list) and history and isinstance(history[0], dict):
            return history
    return []


def _curves(name: str, history: list[dict[str, Any]]) -> str:
    from matplotlib import pyplot as plt

    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    metrics = sorted({k for r in history for k, v in r.items() if "@" in k and isinstance(v, (int, float))})
    fig, axes = plt.subplots(1, 3 if metrics else 2, figsize=(12 if metrics else 8, 3.2))
    axes[0].plot(epochs, [r.get("train_loss") for r in history], marker="o")
    axes[0].set(title=f"{name}: training loss", xlabel="epoch")
    axes[1].plot(epochs, [r.get("lr") for r in history], marker=".")
    axes[1].set(title="learning rate", xlabel="epoch")
    if metrics:
        for m in metrics:
            points = [(e, r[m]) for e, r in zip(epochs, history, strict=True) if m in r]
            axes[2].plot(*zip(*points, strict=True), marker="o", label=m)
        axes[2].set(title="validation", xlabel="epoch")
        axes[2].legend(fontsize=8)
    rows = [[r.get("epoch", i + 1), r.get("train_loss"), *[r.get(m, "") for m in metrics], r.get("seconds", ""), r.get("samples_per_s", "")]
            for i, r in enumerate(history)]
    return _png(fig) + _table(["epoch", "train loss", *metrics, "seconds", "samples/s"], rows)


def _usage(sids_path: Path, stats: dict[str, Any]) -> str:
    from matplotlib import pyplot as plt

    parts = []
    if sids_path.is_file():
        sids = load_sids(sids_path)
        sizes = list(sids.codebook_sizes)
        fig, axes = plt.subplots(1, len(sizes), figsize=(3.2 * len(sizes), 3.2), squeeze=False)
        for level, (ax, size) in enumerate(zip(axes[0], sizes, strict=True)):
            counts = np.bincount(sids.codes[:, level], minlength=size).astype(float)
            side = int(np.ceil(np.sqrt(size)))
            grid = np.full(side * side, np.nan)
            grid[:size] = counts
            im = ax.imshow(grid.reshape(side, side), cmap="viridis")
            ax.set_title(f"level {level}: {int((counts > 0).sum())}/{size} codes used", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046)
        parts.append(_png(fig))
        parts.append('<p class="note">Items per code, one cell per code (row-major), one panel per SID level.</p>')
    prefixes = stats.get("prefixes") or []
    if prefixes:
        rows = [[p["depth"], p["unique"], p["items_in_collisions"], p["collision_rate"], p["items_per_prefix"]["max"]] for p in prefixes]
        parts.append(_table(["prefix depth", "distinct prefixes", "items sharing one", "share", "most items on one"], rows))
    levels = stats.get("levels") or []
    if levels:
        rows = [[lv["level"], lv["used"], lv["codebook_size"], lv["perplexity"]] for lv in levels]
        parts.append(_table(["level", "codes used", "codebook size", "perplexity"], rows))
    return "".join(parts) or '<p class="note">No SID table in this run.</p>'


def _metrics(metrics: dict[str, dict[str, float]]) -> str:
    rows = []
    names = sorted({k for split in metrics.values() for k in split if "/" not in k and "@" in k})
    for split, values in metrics.items():
        for name in names:
            rows.append([split, name, values.get(name, ""), values.get(f"mostpop/{name}", ""), values.get(f"markov/{name}", "")])
    return _table(["split", "metric", "model", "mostpop/", "markov/"], rows)


def build_report(run_dir: str | Path) -> str:
    """The HTML page of the finished run in ``run_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise ArtifactError(f"{run_dir}: no run.json: not a finished sidkit run (run `sidkit run` to finish it)")
    run = read_json(run_dir / "run.json")
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
    stats = read_json(run_dir / "sid_stats.json") if (run_dir / "sid_stats.json").is_file() else {}
    plugins = run.get("plugins", {})
    data = run.get("data", {})
    sections = [
        f"<h1>sidkit run: {html.escape(str(run_dir))}</h1>",
        _table(["", ""], [
            ["status", run.get("status")], ["seed", run.get("seed")], ["device", run.get("device")],
            ["data", f"{data.get('name')}: {data.get('users')} users, {data.get('items')} items, {data.get('interactions')} interactions"],
            *[[kind, f"{c.get('name')} ({c.get('plugin')} {c.get('version')})"] for kind, c in plugins.items()],
        ]),
        "<h2>Metrics beside MostPop and Markov</h2>",
        _metrics(metrics) if metrics else '<p class="note">No metrics.json.</p>',
        "<h2>Training curves</h2>",
    ]
    trained = False
    for stage in STAGES:
        history = training_history(run_dir / stage)
        if history:
            trained = True
            sections += [f"<h3>{stage} ({html.escape(str(plugins.get(stage, {}).get('name', '')))})</h3>", _curves(stage, history)]
    if not trained:
        sections.append('<p class="note">No stage recorded per-epoch training history.</p>')
    sid_file = run_dir / "generator" / "sids.safetensors"
    sections += [
        "<h2>SID code usage and collisions</h2>",
        _usage(sid_file if sid_file.is_file() else run_dir / "tokenizer" / "sids.safetensors", stats),
        "<h2>Time per stage</h2>",
        _table(["stage", "seconds", "reused"], [
            [stage, float(seconds), bool(run.get("reused", {}).get(stage, False))] for stage, seconds in run.get("timings_s", {}).items()
        ]),
    ]
    body = "\n".join(sections)
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>sidkit report: {html.escape(run_dir.name)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n'
