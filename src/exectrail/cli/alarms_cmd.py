"""``exectrail alarms``: interference with the audit trail, found in logs (or a store) after the fact."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import click

from exectrail.cli.common import EXIT_ALARMS, EXIT_INPUT_PROBLEMS, echo_err, report_diagnostics
from exectrail.cli.options import (
    Seconds,
    fleet_options,
    format_option,
    input_paths,
    open_source,
    resolve_format,
)
from exectrail.errors import UsageError
from exectrail.interference.detector import scan_logs
from exectrail.interference.kinds import DESCRIPTIONS
from exectrail.interference.trail import Settings
from exectrail.model import CERTAIN, Alarm
from exectrail.output.alarmlist import alarm_summary, emit_alarms
from exectrail.output.progress import progress_bar
from exectrail.parse.logfile import ReadStats
from exectrail.query.fleetalarms import fleet_alarms


@click.command("alarms")
@click.argument("files", nargs=-1)
@click.option(
    "--db", "db", type=click.Path(dir_okay=False), help="Read the alarms kept in this store instead."
)
@click.option(
    "--rule-key", "key", default="procmon", show_default=True, help="Audit key of the exec rules to expect."
)
@click.option(
    "--silent-gap",
    type=Seconds(1),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="Report stretches without any record at least this long (on a busy host).",
)
@click.option("--no-line-checks", is_flag=True, help="Skip the second read that checks every line.")
@click.option("--certain", "certain_only", is_flag=True, help="Only alarms that are certain.")
@click.option("--kinds", "list_kinds", is_flag=True, help="List the alarm kinds and exit.")
@format_option
@fleet_options
@click.option("-v", "--verbose", is_flag=True, help="All evidence lines; the first bad lines with file:line.")
def alarms(
    files: tuple[str, ...],
    db: str | None,
    key: str,
    silent_gap: float,
    no_line_checks: bool,
    certain_only: bool,
    list_kinds: bool,
    fmt: str | None,
    source_url: str | None,
    hosts: tuple[str, ...],
    verbose: bool,
    **params: Any,
) -> None:
    """Report interference with the audit trail found in audit logs.

    FILE may be plain or gzip-compressed, or - for stdin. Without FILE: /var/log/audit/audit.log and
    its rotations, oldest first. Give every rotated file, oldest first, so that their continuity can
    be checked. With --db, the alarms kept in a store; with --from, those the fleet's hosts forwarded
    to ClickHouse. Exit status: 0 no alarm, 3 alarms found, 1 input problems.
    """
    if list_kinds:
        for kind, text in DESCRIPTIONS.items():
            click.echo(f"{kind:22} {text}")
        return
    problems: list[str] = []
    fleet = open_source(source_url, hosts, Path(db) if db is not None else None)
    if fleet is not None:
        if files:
            raise UsageError("give log files or --from, not both")
        with closing(fleet):
            found = fleet_alarms(fleet)
    elif db is not None:
        if files:
            raise UsageError("give log files or --db, not both")
        from exectrail.store.alarms import read_checked_alarms

        found, broken = read_checked_alarms(db)
        problems = [f"{db}: {broken}"] if broken else []
    else:
        found, problems = _scan(files, key, silent_gap, no_line_checks, verbose)
    if certain_only:
        found = [a for a in found if a.certainty == CERTAIN]
    emit_alarms(found, resolve_format(fmt), verbose)
    echo_err(f"exectrail: {alarm_summary(found)}")
    for problem in problems:
        echo_err(f"exectrail: {problem}")
    if problems:
        raise click.exceptions.Exit(EXIT_INPUT_PROBLEMS)
    if found:
        raise click.exceptions.Exit(EXIT_ALARMS)


def _scan(
    files: tuple[str, ...], key: str, silent_gap: float, no_line_checks: bool, verbose: bool
) -> tuple[list[Alarm], list[str]]:
    paths = input_paths(files)
    settings = Settings(procmon_key=key, silent_gap_ms=int(silent_gap * 1000))
    stats = ReadStats()
    bar, callback = progress_bar(paths)
    with bar:
        found, _events, scan = scan_logs(paths, settings, stats, callback, line_checks=not no_line_checks)
    echo_err(
        f"exectrail: read {stats.records} records from {stats.lines} lines in {stats.files} "
        f"file{'s' if stats.files != 1 else ''}; diagnostics: {scan.diagnostics.summary()}"
    )
    report_diagnostics(scan.diagnostics, verbose)
    return found, list(stats.problems)
