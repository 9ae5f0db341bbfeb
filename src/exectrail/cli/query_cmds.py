"""``exectrail search``, ``tree``, ``timeline`` and ``report``: the responder's questions to the store."""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from exectrail.cli.common import EXIT_NOT_FOUND, echo_err
from exectrail.cli.options import (
    MAX_ID,
    build_filter,
    count_type,
    db_option,
    filter_options,
    fleet_options,
    format_option,
    open_source,
    parse_id,
    resolve_format,
    tabular_format_option,
)
from exectrail.errors import UsageError
from exectrail.output.results import render_sessions, render_tree
from exectrail.output.terminal import terminal_text
from exectrail.output.writers import TABULAR_FORMATS, make_writer
from exectrail.query import fleetevents
from exectrail.query.fleettree import FleetTreeSource, tree_host
from exectrail.query.search import SearchQuery
from exectrail.query.search import search as run_search
from exectrail.query.timeline import TimelineQuery, sessions
from exectrail.query.timeline import timeline as run_timeline
from exectrail.query.tree import process_tree, prune
from exectrail.store import EventStore
from exectrail.store.db import sqlite_errors
from exectrail.timeparse import parse_time


def _is_utf8(text: str) -> bool:
    """False when ``text`` holds bytes that were not UTF-8 (an argument kept by surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _write_events(events: Any, fmt: str | None) -> int:
    writer = make_writer(resolve_format(fmt))
    shown = 0
    try:
        for event in events:
            writer.write(event)
            shown += 1
    finally:
        writer.close()
    return shown


@click.command()
@db_option
@filter_options
@click.option(
    "--text",
    "text",
    multiple=True,
    metavar="WORDS",
    help="Words that must all occur in the command line (whole words, any case; word* for a prefix).",
)
@click.option("--limit", type=count_type(), help="At most this many events.")
@click.option("--newest-first", is_flag=True, help="Newest events first.")
@format_option
@fleet_options
def search(db: Path | None, text: tuple[str, ...], limit: int | None, newest_first: bool, fmt: str | None,
           source_url: str | None, hosts: tuple[str, ...], **params: Any) -> None:  # fmt: skip
    """Find stored exec events by the review filters and full-text words."""
    for words in text:
        if not _is_utf8(words):
            raise UsageError(
                f"--text '{terminal_text(words)}' is not UTF-8 text: full-text words are text; "
                "--argv-contains matches any bytes of the command line"
            )
    query = SearchQuery(build_filter(params), text, limit, newest_first)
    started = time.monotonic()
    fleet = open_source(source_url, hosts, db)
    if fleet is not None:
        with closing(fleet):
            shown = _write_events(fleetevents.search(fleet, query), fmt)
        echo_err(f"exectrail: {shown} events found in {fleet.table} ({time.monotonic() - started:.2f} s)")
        return
    with EventStore(db, readonly=True) as store, sqlite_errors(store.path):
        shown = _write_events(run_search(store.conn, query), fmt)
    echo_err(f"exectrail: {shown} events found in {store.path} ({time.monotonic() - started:.2f} s)")


@click.command()
@click.argument("pid", type=click.IntRange(min=0, max=MAX_ID))
@db_option
@click.option(
    "--at", "at", metavar="TIME", help="The process that had PID at this time [default: the latest]."
)
@filter_options
@click.option("--max-nodes", default=2000, show_default=True, type=count_type(),
              help="Stop listing descendants after this many processes.")  # fmt: skip
@tabular_format_option
@fleet_options
def tree(pid: int, db: Path | None, at: str | None, max_nodes: int, fmt: str | None, source_url: str | None,
         hosts: tuple[str, ...], **params: Any) -> None:  # fmt: skip
    """A process's ancestry and descendants, with command lines, users and times.

    The parent of a process is the latest exec of its ppid before the process's own first exec,
    so reused pids are told apart by time. With filters, only matching execs are listed and only
    the descendants leading to one are kept. With --from, the tree stays on one host (pids are per
    host): the one --host names, or the only one where PID ran.
    """
    when = parse_time(at) if at else None
    event_filter = build_filter(params)
    fleet = open_source(source_url, hosts, db)
    if fleet is not None:
        with closing(fleet):
            host = tree_host(fleet, pid)
            result = (
                None if host is None else process_tree(FleetTreeSource(fleet, host), pid, when, max_nodes)
            )
    else:
        with EventStore(db, readonly=True) as store, sqlite_errors(store.path):
            result = process_tree(store.conn, pid, when, max_nodes)
    if result is not None and not event_filter.empty:
        result = prune(result, event_filter)
    if result is None:
        echo_err(
            f"exectrail: no exec of pid {pid} (or by a child of it) recorded{f' before {at}' if at else ''}"
        )
        raise click.exceptions.Exit(EXIT_NOT_FOUND)
    render_tree(result, resolve_format(fmt))


def _session(value: str | None) -> tuple[int | None, bool]:
    if value is None:
        return None, False
    if value in ("unset", "-1", "4294967295"):
        return None, True
    return parse_id(value, "--session"), False


@click.command()
@db_option
@click.option("--session", "session", metavar="SES", help="Login session id (ses=), or 'unset'.")
@click.option("--tty", metavar="TTY", help="Terminal, e.g. pts0.")
@filter_options
@format_option
@fleet_options
def timeline(db: Path | None, session: str | None, tty: str | None, fmt: str | None, source_url: str | None,
             hosts: tuple[str, ...], **params: Any) -> None:  # fmt: skip
    """One login session's executions in order (--session, --auid or --tty).

    Without a selector, lists the sessions to choose from (table, jsonl or csv).
    """
    ses, unset = _session(session)
    query = TimelineQuery(build_filter(params), ses, unset, tty)
    if not query.selects and fmt is not None and fmt not in TABULAR_FORMATS:
        raise UsageError(
            f"--format {fmt} is for exec events: the list of sessions is table, jsonl or csv "
            "(select one with --session, --auid or --tty)"
        )
    fleet = open_source(source_url, hosts, db)
    if fleet is not None:
        with closing(fleet):
            if not query.selects:
                render_sessions(fleetevents.sessions(fleet, query), resolve_format(fmt))
                return
            shown = _write_events(fleetevents.timeline(fleet, query), fmt)
        echo_err(f"exectrail: {shown} events in the timeline")
        return
    with EventStore(db, readonly=True) as store, sqlite_errors(store.path):
        if not query.selects:
            render_sessions(sessions(store.conn, query.filter), resolve_format(fmt))
            return
        shown = _write_events(run_timeline(store.conn, query), fmt)
    echo_err(f"exectrail: {shown} events in the timeline")
