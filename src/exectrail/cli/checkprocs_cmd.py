"""``exectrail check-procs``: running processes whose exec is missing from the trail, and
processes running deleted or scratch-directory executables."""

from __future__ import annotations

import os
import socket
from typing import Any

import click

from exectrail.cli.common import EXIT_ALARMS, EXIT_INPUT_PROBLEMS, echo_err
from exectrail.cli.options import HostName, format_option, input_paths, resolve_format
from exectrail.errors import UsageError
from exectrail.interference.detector import LogAudit, scan_logs
from exectrail.interference.procs import ExecIndex, check_processes
from exectrail.kernel.procfs import ancestors, running_processes
from exectrail.model import Alarm
from exectrail.output.alarmlist import alarm_summary, emit_alarms
from exectrail.output.progress import progress_bar
from exectrail.parse.logfile import ReadStats
from exectrail.store import EventStore
from exectrail.store.db import sqlite_errors
from exectrail.store.reader import SuccessfulExecs
from exectrail.timefmt import iso, ms_to_time
from exectrail.timeparse import parse_time


def index_from_store(path: str) -> ExecIndex:
    """Successful exec events of the store at ``path``; rows edited into nonsense are left out and
    counted on stderr."""
    with EventStore(path, readonly=True) as store, sqlite_errors(store.path):
        execs = SuccessfulExecs(store.conn)
        index = ExecIndex.from_rows(execs)
    if execs.damaged:
        echo_err(
            f"exectrail: {path}: {execs.damaged} stored events cannot be read (edited by hand?) and were "
            "left out; 'exectrail verify' says what changed"
        )
    return index


@click.command("check-procs")
@click.argument("files", nargs=-1)
@click.option("--db", "db", type=click.Path(dir_okay=False), help="Take the exec events from this store.")
@click.option(
    "--since", help="Monitoring began at this time [default: the exec rules added, or the first exec event]."
)
@click.option("--until", help="The trail is complete up to this time [default: its last exec event].")
@click.option("--host-name", "host", type=HostName(), help="Host name put on the alarms [default: hostname].")
@format_option
def check_procs(
    files: tuple[str, ...],
    db: str | None,
    since: str | None,
    until: str | None,
    host: str | None,
    fmt: str | None,
    **params: Any,
) -> None:
    """Compare the running processes with the exec events of the trail.

    Reports processes started while the trail was recorded whose executable differs from their
    parent's but whose exec is not in the trail (events lost, or an exec path the rules miss), and
    processes running a deleted executable or one from memfd:, /dev/shm, /tmp or /var/tmp. FILE as
    for review (default: /var/log/audit/audit.log and its rotations). Needs root to see every
    process. Exit status: 0 nothing found, 3 alarms, 1 input problems.
    """
    problems: list[str] = []
    began: int | None = None
    if db is not None:
        if files:
            raise UsageError("give log files or --db, not both")
        index = index_from_store(db)
    else:
        paths = input_paths(files)
        stats = ReadStats()
        bar, callback = progress_bar(paths)
        audit = LogAudit(line_checks=False)
        with bar:
            _alarms, events, _scan = scan_logs(
                paths, stats=stats, progress=callback, keep_events=True, alarms=audit
            )
        index = ExecIndex.from_events(events)
        began = audit.monitoring_since_ms()
        problems = list(stats.problems)
    since_ms = int(parse_time(since).timestamp() * 1000) if since else began
    until_ms = int(parse_time(until).timestamp() * 1000) if until else None
    if index.first_ms is None and since_ms is None:
        echo_err("exectrail: the trail holds no exec event: nothing to compare the processes with")
    result = check_processes(
        running_processes(), index, since_ms, until_ms, host or socket.gethostname(), ancestors(os.getpid())
    )
    emit_alarms(result.alarms, resolve_format(fmt), verbose=False)
    echo_err(_summary(result.alarms, index, result.checked, result.forks, result.matched, result.after))
    for problem in problems:
        echo_err(f"exectrail: {problem}")
    if problems:
        raise click.exceptions.Exit(EXIT_INPUT_PROBLEMS)
    if result.alarms:
        raise click.exceptions.Exit(EXIT_ALARMS)


def _summary(
    alarms: list[Alarm], index: ExecIndex, checked: int, forks: int, matched: int, after: int
) -> str:
    span = "no exec events"
    if index.first_ms is not None and index.last_ms is not None:
        first, last = iso(ms_to_time(index.first_ms)), iso(ms_to_time(index.last_ms))
        span = f"{index.events} exec events from {first} to {last}"
    return (
        f"exectrail: {checked} processes started while the trail was recorded ({span}): {matched} with their "
        f"exec in the trail, {forks} forks without exec; {after} started after the trail ends (not checked); "
        f"{alarm_summary(alarms)}"
    )
