"""``sidkit report RUN``: the click command the plugin adds to the ``sidkit`` CLI."""

from __future__ import annotations

from pathlib import Path

import click
from sidkit.cli import output_folder


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="HTML file [RUN/report.html].")
def report(run_dir: Path, out: Path | None) -> None:
    """Write one self-contained HTML page for the run in RUN_DIR: curves, code usage,
    metrics beside Markov and MostPop, stage timings."""
    from sidkit.artifacts import atomic_write_text

    from .page import build_report

    out = out or run_dir / "report.html"
    html = build_report(run_dir)
    atomic_write_text(output_folder(out), html)
    click.echo(f"wrote {out} ({len(html) // 1024} KiB)")
