"""``sidkit inspect``: a readable summary of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .artifacts import StageRecord, read_json
from .errors import ArtifactError

__all__ = ["inspect_run", "format_inspection"]

STAGES = ("encoder", "tokenizer", "generator", "rankings")


def inspect_run(run_dir: str | Path) -> dict[str, Any]:
    """Run metadata, per-stage status and fingerprints, SID statistics and metrics."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise ArtifactError(f"{run_dir}: not a sidkit run directory (no run.json)")
    report: dict[str, Any] = {"run_dir": str(run_dir), "run": read_json(run_dir / "run.json"), "stages": {}}
    for stage in STAGES:
        record = StageRecord(run_dir / stage)
        report["stages"][stage] = record.info()
    for name in ("sid_stats", "metrics"):
        path = run_dir / f"{name}.json"
        report[name] = read_json(path) if path.exists() else None
    return report


def format_inspection(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [f"run {report['run_dir']}: {run.get('status')} (sidkit {run.get('sidkit')}, seed {run.get('seed')}, ties {run.get('ties')})"]
    data = run.get("data") or {}
    if data:
        lines.append(f"data: {data.get('users')} users, {data.get('items')} items, {data.get('interactions')} interactions")
    for kind, comp in (run.get("plugins") or {}).items():
        lines.append(f"{kind:<10} {comp['name']} ({comp.get('plugin')} {comp.get('version')})")
    lines.append("stages:")
    for stage, info in report["stages"].items():
        state = info["status"] if info["status"] == "missing" else f"{info['status']:<11} fingerprint {info.get('fingerprint')}"
        lines.append(f"  {stage:<10} {state}")
    stats = report.get("sid_stats")
    if stats:
        lines.append(
            f"SIDs: {stats.get('n_items')} items, {stats.get('n_levels')} levels, "
            f"{stats.get('unique_sids')} unique, collision rate {stats.get('collision_rate', 0):.4f}"
        )
        for level in stats.get("levels", []):
            lines.append(
                f"  level {level['level']}: {level['used']}/{level['codebook_size']} codes used, "
                f"perplexity {level['perplexity']:.1f}"
            )
    metrics = report.get("metrics")
    if metrics:
        lines.append("metrics (test):")
        for key, value in sorted(metrics.get("test", {}).items()):
            lines.append(f"  {key:<22} {value:.4f}")
    return "\n".join(lines)
