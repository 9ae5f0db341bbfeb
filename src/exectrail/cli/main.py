"""The ``exectrail`` command: a click group; each command group lives in its own module."""

from __future__ import annotations

import importlib
import sys

import click

from exectrail import __version__
from exectrail.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    ExectrailGroup,
    Terminated,
    open_standard_streams,
    raise_on_sigterm,
    tolerate_unencodable_text,
)

# Modules that define commands, each exposing ``register(group)``. Keep this list sorted by workflow.
COMMAND_MODULES = [
    "exectrail.cli.review_cmd",
    "exectrail.cli.alarms_cmd",
    "exectrail.cli.checkprocs_cmd",
    "exectrail.cli.store_cmds",
    "exectrail.cli.query_cmds",
    "exectrail.cli.rules_cmd",
    "exectrail.cli.status_cmd",
    "exectrail.cli.watch_cmd",
    "exectrail.cli.config_cmd",
]


@click.group(cls=ExectrailGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exectrail")
def cli() -> None:
    """Record, search and forward every program executed on this host (kernel audit)."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def main() -> None:
    """Console entry point: run the CLI; never let a traceback reach the user."""
    open_standard_streams()
    tolerate_unencodable_text()
    raise_on_sigterm()
    try:
        cli.main(prog_name="exectrail", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("exectrail: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        click.echo("exectrail: terminated", err=True)
        sys.exit(EXIT_TERMINATED)


if __name__ == "__main__":
    main()
