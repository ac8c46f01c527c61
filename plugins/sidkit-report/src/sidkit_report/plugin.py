"""The sidkit hook of sidkit-report: adds the ``sidkit report`` command (matplotlib loads
only when the command runs)."""

from __future__ import annotations

from sidkit.registry import hookimpl


@hookimpl
def sidkit_register_commands(cli):
    from .command import report

    cli.add_command(report)
