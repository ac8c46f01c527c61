"""The sidkit hook of sidkit-continual: adds the ``sidkit continual`` command. Imports only
sidkit's registry; the command module imports click, and the runner loads when it runs."""

from __future__ import annotations

from sidkit.registry import hookimpl


@hookimpl
def sidkit_register_commands(cli):
    from .command import continual

    cli.add_command(continual)
