"""``sidkit inspect``: a readable summary of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .artifacts import StageRecord, read_json
from .errors import ArtifactError
from .stages import ATTEMPT_FILE, PENDING_SUFFIX


def format_metric(key: str, value: float) -> str:
    """A metric for a table: counts (``n_…``) as integers, the rest with 4 decimals."""
    if key.rsplit("/", 1)[-1].startswith("n_") and value == value and float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4f}"

__all__ = ["inspect_run", "format_inspection", "format_metric"]

STAGES = ("encoder", "tokenizer", "generator", "rankings")


def inspect_run(run_dir: str | Path) -> dict[str, Any]:
    """Run metadata, per-stage status (``done``/``corrupt``/``interrupted``/``missing``,
    checked against the recorded digests) and fingerprints, SID statistics, metrics, and
    the run in progress or failed (``attempt``) with the stages it finished (``pending``)."""
    run_dir = Path(run_dir)
    has_run, has_attempt = (run_dir / "run.json").exists(), (run_dir / ATTEMPT_FILE).exists()
    if not has_run and not has_attempt:
        raise ArtifactError(f"{run_dir}: not a sidkit run directory (no run.json)")
    report: dict[str, Any] = {
        "run_dir": str(run_dir),
        "run": read_json(run_dir / "run.json") if has_run else {"status": "never finished"},
        "attempt": read_json(run_dir / ATTEMPT_FILE) if has_attempt else None,
        "stages": {stage: StageRecord(run_dir / stage).info() for stage in STAGES},
        "pending": {
            stage: StageRecord(run_dir / f"{stage}{PENDING_SUFFIX}").info()
            for stage in STAGES if (run_dir / f"{stage}{PENDING_SUFFIX}").exists()
        },
    }
    for name in ("sid_stats", "metrics"):
        path = run_dir / f"{name}.json"
        report[name] = read_json(path) if path.exists() else None
    return report


def _state(info: dict[str, Any]) -> str:
    if info["status"] == "missing":
        return "missing"
    text = f"{info['status']:<11} fingerprint {info.get('fingerprint')}"
    return text + "".join(f"\n    {problem}" for problem in info.get("problems", []))


def format_inspection(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [f"run {report['run_dir']}: {run.get('status')} (sidkit {run.get('sidkit')}, seed {run.get('seed')}, ties {run.get('ties')})"]
    data = run.get("data") or {}
    if data:
        lines.append(f"data: {data.get('users')} users, {data.get('items')} items, {data.get('interactions')} interactions")
    for kind, comp in (run.get("plugins") or {}).items():
        lines.append(f"{kind:<10} {comp['name']} ({comp.get('plugin')} {comp.get('version')})")
    attempt = report.get("attempt")
    if attempt:
        lines.append(f"latest attempt: {attempt.get('status')}" + (f": {attempt['error']}" if attempt.get("error") else ""))
    for title, stages in (("stages:", report["stages"]), ("stages of the latest attempt, not yet in place:", report.get("pending"))):
        if stages:
            lines.append(title)
            lines.extend(f"  {stage:<10} {_state(info)}" for stage, info in stages.items())
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
            lines.append(f"  {key:<22} {format_metric(key, value)}")
    return "\n".join(lines)
