"""The ``sidkit`` command line. Importing this module must not import torch: every command
imports what it needs when it runs. Plugins add commands through the
``sidkit_register_commands`` hook (:meth:`sidkit.registry.Registry.add_commands`); theirs
use :func:`command_registry` and :func:`output_folder` like the core's."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import ConfigError, SidkitError
from .protocols import KINDS

__all__ = ["main", "command_registry", "output_folder"]

_OUTPUT = "sidkit.output"  # ctx.meta key: where the running command writes
_WARNED = "sidkit.warned"  # ctx.meta key: the registry whose refused names were printed


def output_folder(path: Path) -> Path:
    """Note ``path`` as the folder this command writes to (named by OS errors without a file)."""
    click.get_current_context().meta[_OUTPUT] = path
    return path


def command_registry():
    """The process-wide registry, for a command; prints a warning (once per invocation) for
    each component or command name a plugin was refused because an earlier one had it."""
    from .registry import get_registry

    registry = get_registry()
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    if meta.get(_WARNED) is not registry:
        for message in registry.refused():
            click.echo(f"warning: {message}", err=True)
        meta[_WARNED] = registry
    return registry


def _os_error_message(exc: OSError, meta: dict) -> str:
    """``PATH: reason`` for a failed file operation (``SRC -> DST: reason`` for a rename); an
    error without a file name (a full disk while writing) names the output folder instead."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        where = f" (writing under {meta[_OUTPUT]})" if _OUTPUT in meta else ""
        return reason + where
    path = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else f"{exc.filename}"
    return f"{path}: {reason}"


_FILE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM, errno.ENOENT, errno.EEXIST}


def _is_file_error(exc: OSError) -> bool:
    """An error about a file or folder the user named (other OS errors keep their traceback)."""
    return exc.filename is not None or exc.errno in _FILE_ERRNOS


class _Group(click.Group):
    """Adds the plugins' commands when a command is first looked up (per registry), and turns
    sidkit's own errors into one clean message: exit 2 for configs, 1 otherwise; an OS
    error (read-only folder, full disk, missing file) is ``error: PATH: reason``, exit 1."""

    _loaded_from = None  # the registry whose plugin commands are in self.commands
    _plugin_commands: list[str] = []

    def _add_plugin_commands(self) -> None:
        from .registry import get_registry

        registry = get_registry()
        if registry is not self._loaded_from:  # a test fixture may swap the registry in-process
            for name in self._plugin_commands:
                self.commands.pop(name, None)
            self._plugin_commands = registry.add_commands(self)
            self._loaded_from = registry
        command_registry()  # the warnings, now that command names were checked too

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except SidkitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            if exc.errno == errno.EPIPE or not _is_file_error(exc):  # EPIPE: `sidkit ... | head`
                raise
            click.echo(f"error: {_os_error_message(exc, ctx.meta)}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sidkit")
def main() -> None:
    """sidkit: generative recommendation with Semantic IDs, built from plugins."""


# -- plugins -----------------------------------------------------------------------------
@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of components.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when any plugin is broken or a component or command name clashes.")
def plugins_cmd(as_json: bool, strict: bool) -> None:
    """List every registered component and the plugin it comes from."""
    registry = command_registry()
    broken = [p for p in registry.plugins.values() if p.status == "broken"]
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in registry.components()], indent=2))
    else:
        rows = [("KIND", "NAME", "PLUGIN", "VERSION", "DESCRIPTION")]
        rows += [(s.kind, s.name, s.plugin, s.version, s.description) for s in registry.components()]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            click.echo("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=False)) + "  " + r[4])
        commands = [f"{c} ({p.name})" for p in registry.plugins.values() for c in p.commands]
        if commands:
            click.echo(f"\ncommands from plugins: {', '.join(commands)}")
        disabled = [p.name for p in registry.plugins.values() if p.status == "disabled"]
        if disabled:
            click.echo(f"\ndisabled by SIDKIT_LOAD_PLUGINS: {', '.join(disabled)}")
    for p in broken:
        click.echo(f"broken plugin {p.name} {p.version}: {p.error}", err=True)
    if strict and (broken or registry.refused()):
        sys.exit(1)


# -- config ------------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Inspect pipeline configs."""


@config_group.command("show")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
def config_show(config: Path, overrides: tuple[str, ...]) -> None:
    """Print CONFIG fully resolved, with every default filled in."""
    from .config import dump_toml, load_config

    cfg = load_config(config, command_registry(), overrides, require=())
    click.echo(dump_toml(cfg.to_dict()), nl=False)


# -- run ---------------------------------------------------------------------------------
def _print_metrics(metrics: dict[str, dict[str, float]]) -> None:
    from .inspect_run import format_metric

    keys = sorted({k for split in metrics.values() for k in split}, key=lambda k: (k.count("/"), k))
    click.echo(f"{'metric':<24}" + "".join(f"{s:>12}" for s in metrics))
    for key in keys:
        click.echo(f"{key:<24}" + "".join(f"{format_metric(key, metrics[s].get(key, float('nan'))):>12}" for s in metrics))


@main.command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run directory [runs/<config name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
@click.option(
    "--nproc", type=click.IntRange(min=1), default=1, show_default=True,
    help="Processes on this machine (torchrun): one per GPU, or CPU processes with gloo.",
)
@click.option("--seeds", metavar="S,S,...", help="Run once per seed into OUT/seed-S and summarise (e.g. 0,1,2).")
def run_cmd(config: Path, out: Path | None, overrides: tuple[str, ...], nproc: int, seeds: str | None) -> None:
    """Run the pipeline in CONFIG and print the metrics table."""
    import logging

    from .config import load_config

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    registry = command_registry()
    cfg = load_config(config, registry, overrides)  # all config errors before any work
    out = output_folder(out or Path("runs") / config.stem)
    if seeds is not None:
        _run_seeds(cfg, out, seeds, nproc, registry)
        return
    if nproc > 1:
        sys.exit(_torchrun(nproc, config, out, overrides))
    from .pipeline import Pipeline
    from .training.distributed import cleanup, dist_info

    result = Pipeline(cfg, out, registry=registry).run()
    if dist_info().distributed:
        cleanup()
        if not dist_info().is_main:
            return  # rank 0 prints
    reused = [s for s, r in result.reused.items() if r]
    if reused:
        click.echo(f"reused stages: {', '.join(reused)}")
    _print_metrics(result.metrics)
    click.echo(f"run directory: {out}")


def _run_seeds(cfg, out: Path, seeds: str, nproc: int, registry) -> None:
    from .seeds import parse_seeds, run_seeds

    try:
        chosen = parse_seeds(seeds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--seeds") from None
    if nproc > 1:
        raise click.BadParameter("runs seeds one after another in this process; use it without --nproc", param_hint="--seeds")
    summary = run_seeds(cfg, out, chosen, registry=registry)
    click.echo((out / "summary.md").read_text(encoding="utf-8"), nl=False)
    click.echo(f"run directories: {out}/seed-{{{','.join(map(str, summary['seeds']))}}}; summary: {out / 'summary.json'}")


def _torchrun(nproc: int, config: Path, out: Path, overrides: tuple[str, ...]) -> int:
    """``sidkit run`` again under ``torchrun --standalone --nproc-per-node nproc``; its exit code."""
    import subprocess

    args = ["run", str(config), "--out", str(out), *(a for o in overrides for a in ("--set", o))]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "sidkit.cli", *args]
    return subprocess.run(cmd).returncode


# -- data --------------------------------------------------------------------------------
@main.group("data")
def data_group() -> None:
    """Look at datasets."""


@data_group.command("info")
@click.argument("path", required=False)
@click.option("--format", "fmt", required=True, help="Loader format (movielens, amazon, recbole, delimited, synthetic).")
@click.option("--items", help="Item file (amazon metadata, recbole .item, delimited JSONL/CSV).")
@click.option("--ties", default="keep", show_default=True, help="Order of equal timestamps: keep, shuffle, item-id.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def data_info(path: str | None, fmt: str, items: str | None, ties: str, as_json: bool) -> None:
    """Users, items, interactions, time range, text coverage and timestamp ties of a dataset."""
    from .config import resolve_data
    from .data import dataset_info, format_info, load_from_config

    table = {"format": fmt, "ties": ties}
    if path is not None:
        table["path"] = str(Path(path).resolve())
    if items is not None:
        table["items"] = str(Path(items).resolve())
    data = resolve_data(table, source="command line")
    info = dataset_info(load_from_config(data.config, data.format))
    click.echo(json.dumps(info, indent=2) if as_json else format_info(info))


# -- recommend / inspect -----------------------------------------------------------------
#: ``--set KEY=VALUE`` decoder options of a loaded run (``recommend``, ``predict``, ``serve``).
decoder_set_option = click.option(
    "--set", "decoder_sets", multiple=True, metavar="KEY=VALUE",
    help="Decoder option for this call, e.g. precision=bf16 or beam_width=50 (repeatable).",
)


@main.command("recommend")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--history", required=True, help="Comma-separated item ids, oldest first.")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="How many items.")
@click.option("--json", "as_json", is_flag=True)
@decoder_set_option
def recommend_cmd(run_dir: Path, history: str, k: int, as_json: bool, decoder_sets: tuple[str, ...]) -> None:
    """Recommend the next items for a history with the model in RUN_DIR."""
    from .serving import load_run

    items = [h.strip() for h in history.split(",") if h.strip()]
    if not items:
        raise click.BadParameter("give at least one item id", param_hint="--history")
    recs = load_run(run_dir, registry=command_registry(), decoder_overrides=decoder_sets).recommend(items, k)
    if as_json:
        click.echo(json.dumps(recs, indent=2))
        return
    for r in recs:
        title = f"  {r['title']}" if r.get("title") else ""
        click.echo(f"{r['rank']:>3}. {r['item_id']}{title}")


@main.command("predict")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSONL, one {"history": [item ids, oldest first], "user": ...} per line.')
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL answers, one per good input line, in input order (written atomically).")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Items per history.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Histories per decoder call.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="A bad input line stops the run (nothing written) or is reported and skipped.")
@decoder_set_option
def predict_cmd(
    run_dir: Path, input_path: Path, output_path: Path, k: int, batch_size: int, on_error: str, decoder_sets: tuple[str, ...]
) -> None:
    """Recommend for every history in a JSONL file with the model in RUN_DIR."""
    import time

    from .predict import predict_file
    from .serving import load_run

    run = load_run(run_dir, registry=command_registry(), decoder_overrides=decoder_sets)
    last = [time.monotonic()]

    def progress(n: int) -> None:  # at most every 10 s
        if time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            click.echo(f"{n} histories ranked", err=True)

    summary = predict_file(
        run, input_path, output_folder(output_path), k=k, batch_size=batch_size, on_error=on_error, progress=progress
    )
    for message in summary.errors:
        click.echo(f"skipped {message}", err=True)
    if summary.skipped > len(summary.errors):
        click.echo(f"... and {summary.skipped - len(summary.errors)} more skipped lines", err=True)
    rate = summary.written / summary.seconds if summary.seconds else 0.0
    click.echo(f"wrote {summary.written} recommendation lists to {output_path} ({summary.skipped} lines skipped, {rate:.0f} histories/s)")


@main.command("inspect")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def inspect_cmd(run_dir: Path, as_json: bool) -> None:
    """Summarise a run directory: components, stages, SID health and metrics."""
    from .inspect_run import format_inspection, inspect_run

    report = inspect_run(run_dir)
    click.echo(json.dumps(report, indent=2) if as_json else format_inspection(report))


# -- new-plugin --------------------------------------------------------------------------
@main.command("new-plugin")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(list(KINDS)))
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
def new_plugin_cmd(name: str, kind: str, directory: Path) -> None:
    """Render the plugin template into DIR/sidkit-NAME: an installable plugin with one
    working component of KIND, its doc page and tests."""
    from .template import render_plugin

    target = render_plugin(name, kind, output_folder(directory))
    click.echo(f"created {target}")
    click.echo(f"next: pip install -e '{target}[test]' && pytest {target}/tests")


if __name__ == "__main__":  # pragma: no cover
    main()
