"""The sidkit hook of sidkit-serve: adds the ``sidkit serve`` command (the HTTP stack loads
only when the command runs)."""

from __future__ import annotations

from sidkit.registry import hookimpl


@hookimpl
def sidkit_register_commands(cli):
    from .command import serve

    cli.add_command(serve)
