"""The ``exectrail`` command: a click group; each command (or group of commands) has its own module."""

from __future__ import annotations

import sys

import click

from exectrail import __version__
from exectrail.cli import (
    alarms_cmd,
    checkprocs_cmd,
    config_cmd,
    fleet_cmd,
    query_cmds,
    report_cmd,
    review_cmd,
    rules_cmd,
    status_cmd,
    store_cmds,
    watch_cmd,
)
from exectrail.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    ExectrailGroup,
    Terminated,
    open_standard_streams,
    raise_on_sigterm,
    tolerate_unencodable_text,
)


@click.group(cls=ExectrailGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exectrail")
def cli() -> None:
    """Record, search and forward every program executed on this host (kernel audit)."""


# In the order of a responder's work: read logs, check them, store, ask the store, then the live side.
for command in (
    review_cmd.review,
    alarms_cmd.alarms,
    checkprocs_cmd.check_procs,
    store_cmds.import_cmd,
    store_cmds.verify,
    query_cmds.search,
    query_cmds.tree,
    query_cmds.timeline,
    report_cmd.report,
    fleet_cmd.fleet_group,
    rules_cmd.rules_group,
    status_cmd.status,
    watch_cmd.watch,
    config_cmd.config_group,
):
    cli.add_command(command)


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
