"""``exectrail review``: exec events from existing audit logs."""

from __future__ import annotations

from typing import Any

import click

from exectrail.cli.common import EXIT_INPUT_PROBLEMS, echo_err, report_diagnostics
from exectrail.cli.options import (
    build_filter,
    filter_options,
    format_option,
    host_id_option,
    input_paths,
    open_sinks,
    resolve_format,
    sink_options,
)
from exectrail.interference.detector import alarm_detector
from exectrail.model import Diagnostics
from exectrail.output.alarmlist import AlarmPrinter
from exectrail.output.mapped import local_host
from exectrail.output.progress import progress_bar
from exectrail.output.writers import make_writer
from exectrail.parse.logfile import ReadStats
from exectrail.pipeline import LogScan


def summary_line(shown: int, read: int, stats: ReadStats, diagnostics: Diagnostics, incomplete: int) -> str:
    """The one-line summary printed on stderr after a read."""
    return (
        f"exectrail: {shown} events shown, {read} read, {stats.records} records "
        f"from {stats.lines} lines in {stats.files} file{'s' if stats.files != 1 else ''}; "
        f"{incomplete} incomplete events; diagnostics: {diagnostics.summary()}"
    )


@click.command()
@click.argument("files", nargs=-1)
@filter_options
@format_option
@sink_options
@click.option("-v", "--verbose", is_flag=True, help="List the first bad lines with file:line and reason.")
@click.option("--no-alarms", is_flag=True, help="Do not look for interference with the trail (alarms).")
@host_id_option
def review(
    files: tuple[str, ...],
    fmt: str | None,
    verbose: bool,
    no_alarms: bool,
    host_id: str | None,
    **params: Any,
) -> None:
    """Show exec events from audit logs.

    FILE may be plain or gzip-compressed, or - for stdin. Without FILE: /var/log/audit/audit.log and
    its rotations (audit.log.N), oldest first. Interference with the trail found on the way (audit
    disabled, rules deleted, auditd stopped, lines edited …, see 'exectrail alarms') is shown as
    alarms among the events.
    """
    event_filter = build_filter(params)
    paths = input_paths(files)
    # ecs/ocsf: a log from another host (--host-id) is not this host's (its host.id is that id)
    writer = make_writer(resolve_format(fmt), host=local_host(host_id) if host_id is not None else None)
    bar, callback = progress_bar(paths)
    # the line checks start beside the scan, in a helper forked before the sinks start their threads
    detector = None if no_alarms else alarm_detector(ahead=paths)
    scan = LogScan(paths, detector=detector, progress=callback, host_id=host_id)
    try:
        sinks = open_sinks(params)
    except BaseException:
        scan.close()
        raise
    alarms = AlarmPrinter(writer, sinks.submit_message if sinks.sinks is not None else None, event_filter)
    show_alarms = alarms.show if not no_alarms else None
    shown = read = 0
    try:
        with bar, sinks:
            for event in scan:
                read += 1
                if event_filter.matches(event):
                    writer.write(event)
                    sinks.submit(event)
                    shown += 1
                if show_alarms is not None:
                    show_alarms(scan.take())
            if show_alarms is not None:
                show_alarms(scan.finish())
    finally:
        scan.close()
        writer.close()
    diagnostics, stats = scan.diagnostics, scan.stats
    line = summary_line(shown, read, stats, diagnostics, scan.incomplete)
    echo_err(line if no_alarms else f"{line}; {alarms.summary()}")
    report_diagnostics(diagnostics, verbose)
    for problem in stats.problems:
        echo_err(f"exectrail: {problem}")
    if stats.problems or sinks.failed:
        raise click.exceptions.Exit(EXIT_INPUT_PROBLEMS)
