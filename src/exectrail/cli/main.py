"""The ``exectrail`` command: a click group; each command (or group of commands) has its own module."""

from __future__ import annotations

import sys

import click

from exectrail import __version__, hotpath
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


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``: the version, then which hot path runs (compiled or pure Python)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"exectrail, version {__version__}")
        click.echo(hotpath.describe())
        ctx.exit()


@click.group(cls=ExectrailGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and which hot path runs (compiled or pure Python), and exit.",
)
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
    hotpath.tune_garbage_collector()
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
