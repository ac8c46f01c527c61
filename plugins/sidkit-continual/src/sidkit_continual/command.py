"""``sidkit continual SCENARIO``: the click command the plugin adds to the ``sidkit`` CLI.
Imports only click and sidkit's CLI helpers; the runner is imported when the command runs."""

from __future__ import annotations

from pathlib import Path

import click
from sidkit.cli import command_registry, output_folder


@click.command("continual")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output directory [runs/<scenario name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario value.")
def continual(scenario: Path, out: Path | None, overrides: tuple[str, ...]) -> None:
    """Run the continual SID-refresh scenario in SCENARIO and print the final-step table."""
    import logging

    from .config import load_scenario
    from .runner import ContinualRunner

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    registry = command_registry()
    cfg = load_scenario(scenario, registry, overrides)  # all config errors before any work
    out = output_folder(out or Path("runs") / scenario.stem)
    report = ContinualRunner(cfg, out, registry=registry).run()
    ks = sorted(cfg.scenario.ks)
    click.echo("policy".ljust(20) + "".join(f"R@{k}".rjust(10) + f"N@{k}".rjust(10) for k in ks) + "  dFLOPs")
    for policy, row in report["policies"].items():
        cells = "".join(f"{row[f'recall@{k}']['mean']:10.4f}{row[f'ndcg@{k}']['mean']:10.4f}" for k in ks)
        click.echo(policy.ljust(20) + cells + f"  {row['delta_flops']:.3g}")
    base = report.get("baselines") or {}
    for name in ("markov", "mostpop") if base else ():  # both protocols report recall (= HR in periods)
        cells = "".join(f"{base[f'{name}/recall@{k}']['mean']:10.4f}{base[f'{name}/ndcg@{k}']['mean']:10.4f}" for k in ks)
        click.echo(f"{name}/".ljust(20) + cells)
    click.echo(f"report: {out / 'report.md'}")
