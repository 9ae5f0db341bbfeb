"""``exectrail report``: summaries of the stored events, or with ``--html`` a case report in one
self-contained HTML file (from the store, from log files, or from the fleet)."""

from __future__ import annotations

import os
import shlex
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from exectrail import __version__
from exectrail.cli.common import echo_err
from exectrail.cli.options import (
    FILTER_PARAMS,
    build_filter,
    count_type,
    db_option,
    filter_options,
    fleet_options,
    input_paths,
    open_source,
    resolve_format,
    tabular_format_option,
)
from exectrail.errors import UsageError
from exectrail.filters import EventFilter
from exectrail.output.html import render_html
from exectrail.output.progress import progress_bar
from exectrail.output.results import render_report
from exectrail.query.casefile import DEFAULT_MAX_EVENTS, CaseBuilder, Made
from exectrail.query.casesources import from_fleet, from_logs, from_store
from exectrail.query.fleetreport import report as fleet_report
from exectrail.query.report import report as build_report
from exectrail.safefs import check_parent, write_replace
from exectrail.sinks.spec import redact
from exectrail.store import EventStore, default_db_path
from exectrail.store.db import sqlite_errors


@click.command()
@click.argument("files", nargs=-1)
@db_option
@filter_options
@click.option("--top", default=10, show_default=True, type=count_type(), help="Rows per ranking.")
@tabular_format_option
@fleet_options
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a case report to this self-contained HTML file instead (from the store, --from, or FILE…).",
)
@click.option(
    "--max-events",
    default=DEFAULT_MAX_EVENTS,
    show_default=True,
    type=count_type(),
    help="With --html: at most this many events in the file (the page says when more matched).",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="With --html from a store: do not walk its hash chain (the page then says it was not checked).",
)
def report(
    files: tuple[str, ...],
    db: Path | None,
    top: int,
    fmt: str | None,
    source_url: str | None,
    hosts: tuple[str, ...],
    html_path: Path | None,
    max_events: int,
    no_verify: bool,
    **params: Any,
) -> None:
    """Summaries: top executables and users, failed execs by path and error, first-seen executables,
    execs from /tmp, /dev/shm, /var/tmp, hidden directories or memfd, counts per hour.

    With --html FILE: a case report to open in a browser (summary, alarms, timeline with the blind
    spots, the process tree, every event's fields), one file with nothing to fetch. It reads the
    store, the fleet (--from), or audit log FILEs as 'review' does (plain or gzip, - for stdin).
    """
    filter_text = _filter_text(params)
    event_filter = build_filter(params)
    fleet = open_source(source_url, hosts, db)
    if html_path is None:
        if files:
            raise UsageError("log files are read for --html; summaries read the store (import them first)")
        if fleet is not None:
            with closing(fleet):
                result = fleet_report(fleet, event_filter, top)
        else:
            with EventStore(db, readonly=True) as store, sqlite_errors(store.path):
                result = build_report(store.conn, event_filter, top)
        render_report(result, resolve_format(fmt))
        return
    if fmt is not None:
        raise UsageError("--html writes its own format: leave out --format")
    if files and (fleet is not None or db is not None):
        raise UsageError("give log files, --db or --from, not several")
    _html_report(
        html_path, files, db, fleet, source_url, event_filter, filter_text, max_events, not no_verify
    )


def _html_report(
    html_path: Path,
    files: tuple[str, ...],
    db: Path | None,
    fleet: Any,
    source_url: str | None,
    event_filter: EventFilter,
    filter_text: str | None,
    max_events: int,
    check_chain: bool,
) -> None:
    target = Path(os.path.abspath(html_path))
    directory = check_parent(target.parent)  # before the reading, which may take long
    builder = CaseBuilder(max_events)
    if fleet is not None:
        assert source_url is not None
        with closing(fleet):
            alarms, provenance = from_fleet(fleet, event_filter, builder, redact(source_url))
    elif files:
        paths = input_paths(files)
        bar, callback = progress_bar(paths)
        with bar:
            alarms, provenance = from_logs(paths, event_filter, builder, callback)
    else:
        store = db if db is not None else default_db_path()
        alarms, provenance = from_store(store, event_filter, builder, check_chain)
    made = Made(datetime.now(UTC), f"exectrail {__version__}", _command_line())
    data = builder.build(alarms, provenance, made, filter_text)
    title = f"exectrail case report: {', '.join(data['summary']['hosts']) or provenance.kind}"  # shown text
    write_replace(directory, target.name, render_html(data, title).encode("utf-8"))
    summary = data["summary"]
    echo_err(
        f"exectrail: wrote {target}: {summary['included']} of {summary['events']} events, "
        f"{summary['alarms']} alarms ({os.path.getsize(target) / 1e6:.1f} MB)"
    )
    for problem in provenance.problems:
        echo_err(f"exectrail: {problem}")


_FLAGS = {"pids": "pid", "ppids": "ppid", "uids": "uid", "auids": "auid", "comms": "comm", "exes": "exe",
          "keys": "key", "argv_contains": "argv-contains"}  # fmt: skip


def _filter_text(params: dict[str, Any]) -> str | None:
    """The filter options as given (before :func:`build_filter` reads them), for the report."""
    parts: list[str] = []
    for name in FILTER_PARAMS:
        value = params.get(name)
        values = value if isinstance(value, tuple) else (value,) if value is not None else ()
        flag = "--" + _FLAGS.get(name, name)
        parts += [f"{flag} {shlex.quote(str(v))}" for v in values]
    return " ".join(parts) or None


def _command_line() -> str:
    """How the report was made, with any password in a URL hidden."""
    return redact(shlex.join(["exectrail", *sys.argv[1:]]))
