"""Where a case report's events and alarms come from: the local store, audit log files (read as
``review`` reads them, alarms as ``alarms`` finds them) or the fleet in ClickHouse. Each fills a
:class:`~exectrail.query.casefile.CaseBuilder` and returns the alarms and the provenance."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from exectrail.filters import EventFilter
from exectrail.interference.detector import scan_logs
from exectrail.model import Alarm, ExecEvent
from exectrail.parse.logfile import STDIN, ProgressCallback, ReadStats
from exectrail.query import fleetevents
from exectrail.query.casefile import CaseBuilder, Provenance, in_range
from exectrail.query.fleetalarms import fleet_alarms
from exectrail.query.search import SearchQuery, search
from exectrail.store import EventStore
from exectrail.store.alarms import read_checked_alarms
from exectrail.store.db import sqlite_errors
from exectrail.store.verify import store_heads, verify
from exectrail.warehouse.source import Fleet

HASH_CHUNK = 1 << 20


def from_store(
    db: Path, event_filter: EventFilter, builder: CaseBuilder, check_chain: bool = True
) -> tuple[list[Alarm], Provenance]:
    """The store's matching events, its alarms and its chain heads, read in one snapshot; with
    ``check_chain`` the events' hash chain is walked in that snapshot too (``verify`` without the
    search index), so the page can say whether the rows it shows are the chained ones."""
    problems = []
    with EventStore(db, readonly=True) as store, sqlite_errors(store.path):
        conn = store.conn
        conn.execute("BEGIN")  # one snapshot: the heads name exactly the rows read
        try:
            heads = store_heads(conn)
            verdict = verify(conn) if check_chain else None
            for event in search(conn, SearchQuery(filter=event_filter)):
                builder.add(event)
        finally:
            conn.execute("ROLLBACK")
        path = str(store.path)
    if verdict is not None and verdict.problem is not None:
        problems.append(f"the events' {verdict.problem.summary}: run exectrail verify")
    alarms, broken = read_checked_alarms(db)
    problems += [broken] if broken else []
    verified = None if verdict is None else verdict.ok and broken is None
    provenance = Provenance("store", path, chain=heads, problems=problems, verified=verified)
    return [a for a in alarms if in_range(a, event_filter)], provenance


def from_fleet(fleet: Fleet, event_filter: EventFilter, builder: CaseBuilder, name: str) -> tuple[
    list[Alarm], Provenance
]:  # fmt: skip
    """The fleet's matching events (each with its host) and the alarms its hosts forwarded."""
    for host, event in fleetevents.hosted_events(fleet, event_filter):
        builder.add(event, host)
    alarms = [a for a in fleet_alarms(fleet) if in_range(a, event_filter)]
    return alarms, Provenance("clickhouse", name)


def from_logs(
    paths: list[str],
    event_filter: EventFilter,
    builder: CaseBuilder,
    progress: ProgressCallback | None = None,
) -> tuple[list[Alarm], Provenance]:
    """The logs' matching events and every alarm the trail shows (as ``exectrail alarms`` finds
    them), with each file's size and SHA-256."""
    before = {p: _identity(p) for p in paths}

    def add(event: ExecEvent) -> None:
        if event_filter.matches(event):
            builder.add(event)

    stats = ReadStats()
    found, _, scan = scan_logs(paths, stats=stats, progress=progress, on_event=add)
    problems = list(stats.problems)
    if scan.diagnostics.counts:
        problems.insert(0, f"lines or events that could not be used: {scan.diagnostics.summary()}")
    if scan.incomplete:
        problems.append(f"{scan.incomplete} exec events with records missing")
    inputs = [_input(p, before[p]) for p in paths]
    alarms = [a for a in found if in_range(a, event_filter)]
    return alarms, Provenance("logs", ", ".join(paths), inputs=inputs, problems=problems)


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """(device, inode, size, mtime) of a file, to tell whether it changed while it was read."""
    if path == STDIN:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _input(path: str, before: tuple[int, int, int, int] | None) -> dict[str, object]:
    """A log file as the report names it: its size and SHA-256 when it did not change while read."""
    entry: dict[str, object] = {"name": path, "bytes": None, "sha256": None, "note": None}
    if path == STDIN:
        entry["note"] = "standard input: no file to hash"
        return entry
    if before is None or _identity(path) != before:
        entry["note"] = "the file changed while it was read (a live log?): not hashed"
        return entry
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        entry["note"] = f"could not be hashed: {exc.strerror}"
        return entry
    if _identity(path) != before:
        entry["note"] = "the file changed while it was hashed (a live log?): not hashed"
        return entry
    entry["bytes"], entry["sha256"] = before[2], digest.hexdigest()
    return entry


__all__ = ["from_fleet", "from_logs", "from_store"]
