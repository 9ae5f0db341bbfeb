"""``exectrail import`` and ``exectrail verify``: filling the store and checking its hash chain."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from exectrail.cli.common import EXIT_INPUT_PROBLEMS, EXIT_TAMPERED, echo_err, report_diagnostics
from exectrail.cli.options import (
    MAX_COUNT,
    count_type,
    db_option,
    host_id_option,
    input_paths,
    open_sinks,
    sink_options,
)
from exectrail.errors import UsageError
from exectrail.interference.detector import TrailChecks
from exectrail.model import CERTAIN, Alarm, Diagnostics
from exectrail.output.alarmlist import alarm_summary
from exectrail.output.progress import progress_bar, rows_progress
from exectrail.output.terminal import terminal_text
from exectrail.parse.logfile import ReadStats
from exectrail.store import DEFAULT_BATCH, EventStore, StoreError
from exectrail.store.alarms import alarm_message_body, store_alarms
from exectrail.store.chain import parse_heads
from exectrail.store.db import sqlite_errors
from exectrail.store.ingest import LogReader
from exectrail.store.verify import store_heads, verify_store

ALARMS_LISTED = 20


def import_summary(
    stored: int, duplicate: int, stats: ReadStats, diagnostics: Diagnostics, incomplete: int
) -> str:
    return (
        f"exectrail: {stored} new, {duplicate} duplicate, {diagnostics.total} bad "
        f"({diagnostics.summary()}); {incomplete} incomplete events; "
        f"{stats.records} records from {stats.lines} lines in {stats.files} "
        f"file{'s' if stats.files != 1 else ''}"
    )


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@db_option
@sink_options
@click.option("-v", "--verbose", is_flag=True, help="List the first bad lines with file:line and reason.")
@click.option("--no-alarms", is_flag=True, help="Do not look for interference with the trail (alarms).")
@click.option("--batch-size", default=DEFAULT_BATCH, hidden=True, type=count_type(1, 10**6))
@host_id_option
def import_cmd(
    files: tuple[str, ...],
    db: Path | None,
    verbose: bool,
    no_alarms: bool,
    batch_size: int,
    host_id: str | None,
    **params: Any,
) -> None:
    """Store exec events from audit logs (same inputs as review), and the alarms found in them.

    Events already stored (same node, time and serial) are counted as duplicates and not stored
    again, so importing a log twice, or one that overlaps live capture, adds nothing; alarms
    (interference with the trail, see 'exectrail alarms') likewise. --sink forwards every event
    read and every alarm.
    """
    paths = input_paths(files)
    bar, callback = progress_bar(paths)
    started = time.monotonic()
    if "-" in paths and not no_alarms:
        echo_err("exectrail: alarms are not looked for in stdin (give the log files to check them)")
        no_alarms = True
    forwarding = bool(params.get("sinks"))
    # the scan's helpers are forked before the sinks start their threads
    checks = None if no_alarms else TrailChecks()
    reader = LogReader(paths, callback, alarms=checks, events=forwarding, host_id=host_id)
    try:
        sinks = open_sinks(params)
    except BaseException:
        reader.close()
        raise
    alarms: list[Alarm] = []
    try:
        with sinks, EventStore(db) as store:
            writer = store.writer(batch_size)
            try:
                with bar:
                    if forwarding:
                        forward = sinks.submit
                        for prepared, event in reader:
                            writer.add_prepared(prepared)
                            forward(event)
                    else:
                        for prepared in reader:
                            writer.add_prepared(prepared)
                    writer.close()
                if not no_alarms:
                    alarms = reader.alarms()
                    new_alarms = store_alarms(store, alarms)
                    for alarm in alarms:
                        sinks.submit_message(alarm_message_body(alarm))
            except StoreError as exc:
                lost = writer.discard()
                raise StoreError(
                    f"{exc}; the {writer.stats.stored} new events stored before are intact, "
                    f"the last {lost + writer.stats.pending} read were not stored"
                ) from None
            finally:
                reader.close()
            with sqlite_errors(store.path):
                heads = store_heads(store.conn)  # the form 'verify --head' prints and '--expect' takes
    finally:
        reader.close()
    elapsed = time.monotonic() - started
    diagnostics, stats = reader.diagnostics, reader.stats
    echo_err(
        import_summary(writer.stats.stored, writer.stats.duplicate, stats, diagnostics, reader.incomplete)
    )
    echo_err(f"exectrail: {store.path}: {'empty' if heads == 'empty' else f'head {heads}'} ({elapsed:.1f} s)")
    if not no_alarms:
        report_alarms(alarms, new_alarms)
    report_diagnostics(diagnostics, verbose)
    for problem in stats.problems:
        echo_err(f"exectrail: {problem}")
    if stats.problems or sinks.failed:
        raise click.exceptions.Exit(EXIT_INPUT_PROBLEMS)


def report_alarms(alarms: list[Alarm], new: int) -> None:
    """``N alarms (…) in the logs, M new in the store`` and the first few, one line each (stderr)."""
    echo_err(f"exectrail: {alarm_summary(alarms)} in the logs, {new} new in the store")
    for alarm in alarms[:ALARMS_LISTED]:
        label = "ALARM" if alarm.certainty == CERTAIN else "SUSPICIOUS"
        echo_err(f"exectrail: {label} {alarm.kind}: {alarm.summary}")
    if len(alarms) > ALARMS_LISTED:
        echo_err(f"exectrail: … {len(alarms) - ALARMS_LISTED} more ('exectrail alarms --db' lists them all)")


@click.command()
@db_option
@click.option(
    "--head", "head_only", is_flag=True, help="Only print the chain heads (events=SEQ:HEX,alarms=SEQ:HEX)."
)
@click.option(
    "--expect", metavar="HEADS", help="Also check that the stored rows still carry these noted heads."
)
def verify(db: Path | None, head_only: bool, expect: str | None) -> None:
    """Check everything the store holds: exit 0 when intact, 1 naming what is wrong.

    The events' hash chain (naming the first bad row and what happened to it: edited, deleted,
    inserted or reordered), the alarms' hash chain the same way, and the full-text search index
    against the chained rows. Someone who rewrites a chain itself is caught only against heads noted
    earlier: keep the output of ``verify --head`` somewhere else and check it with ``--expect``.
    """
    expected = None
    if expect is not None:
        try:
            expected = parse_heads(expect)
        except ValueError as exc:
            raise UsageError(f"--expect: {exc}") from None
        if any(head is not None and head[0] > MAX_COUNT for head in (expected.events, expected.alarms)):
            raise UsageError(f"--expect: no store has that many rows: {expect!r}")
    with EventStore(db, readonly=True) as store:
        if head_only:
            with sqlite_errors(store.path):
                click.echo(store_heads(store.conn))
            return
        total = store.count()
        progress, callback = rows_progress(total)
        with progress, sqlite_errors(store.path):
            verdict = verify_store(store.conn, expected, callback)
    if verdict.ok:
        noted = [
            f"{what} {head[0]} carries the noted head"
            for what, head in (("row", expected and expected.events), ("alarm", expected and expected.alarms))
            if head
        ]
        click.echo(
            f"intact: {verdict.events.rows} events, {verdict.alarms.rows} alarms, search index matches; "
            f"head {verdict.heads if verdict.heads != 'empty' else 'none (empty store)'}"
            + "".join(f"; {text}" for text in noted)
        )
        return
    for problem in verdict.problems:
        click.echo(terminal_text(f"{problem.kind}: {problem.place}: {problem.detail}"))
    first = verdict.problems[0]
    before = f" ({verdict.events.rows} rows before intact)" if first.table == "events" else ""
    more = len(verdict.problems) - 1
    echo_err(
        f"exectrail: {store.path}: {first.summary}{before}"
        + (f"; {more} more problem{'s' if more > 1 else ''} listed" if more else "")
    )
    raise click.exceptions.Exit(EXIT_TAMPERED)
