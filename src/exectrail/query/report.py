"""``report``: aureport-style summaries of the stored events that match a filter."""

from __future__ import annotations

import errno
import pwd
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from exectrail.filters import EventFilter
from exectrail.store.codec import load_text
from exectrail.store.reader import Where, filter_sql, ms_at_or_after, stored_time

HOUR_MS = 3_600_000
MEMFD = "memfd:"
WRITABLE_DIRS = ("/tmp/", "/dev/shm/", "/var/tmp/")


@dataclass(frozen=True)
class ExeCount:
    exe: str | None
    count: int
    users: int  # distinct uids


@dataclass(frozen=True)
class UserCount:
    uid: int | None
    name: str | None
    count: int


@dataclass(frozen=True)
class FailureCount:
    path: str | None
    exit: int
    errno: str  # ENOENT, EACCES … or the number
    count: int


@dataclass(frozen=True)
class FirstSeen:
    exe: str | None
    first: datetime
    count: int  # execs in the range


@dataclass(frozen=True)
class WritableExec:
    program: str
    place: str  # /tmp, /dev/shm, /var/tmp, hidden directory, memfd
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    count: int
    failed: int


@dataclass(frozen=True)
class Report:
    total: int
    failed: int
    first: datetime | None
    last: datetime | None
    top_exes: list[ExeCount]
    top_users: list[UserCount]
    top_login_users: list[UserCount]
    failures: list[FailureCount]
    first_seen: list[FirstSeen]
    writable: list[WritableExec]
    per_hour: list[HourCount]


@lru_cache(maxsize=4096)
def user_name(uid: int | None) -> str | None:
    """The login name of ``uid`` on this host, or None."""
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError, TypeError):  # TypeError: not a number (an edited store)
        return None


def errno_name(exit_code: int | None) -> str:
    """``ENOENT`` for -2; the number itself when unknown (``unknown error`` when not recorded)."""
    if exit_code is None:
        return "unknown error"
    if type(exit_code) is not int:  # an edited store
        return str(exit_code)
    return errno.errorcode.get(-exit_code, str(exit_code))


def place_of(program: str) -> str | None:
    """Which writable or hidden place ``program`` runs from, or None."""
    if program.startswith(MEMFD) or program.startswith("/" + MEMFD):
        return "memfd"
    for prefix in WRITABLE_DIRS:
        if program.startswith(prefix):
            return prefix.rstrip("/")
    parts = program.split("/")[:-1]
    if any(p.startswith(".") and p not in (".", "..") for p in parts):
        return "hidden directory"
    return None


def text_order(value: str | None) -> tuple[int, bytes]:
    """SQLite's order of a text column as the store keeps it: NULL, then UTF-8 text (as TEXT), then
    other bytes (kept as BLOB), each by their bytes."""
    if value is None:
        return 0, b""
    try:
        return 1, value.encode()
    except UnicodeEncodeError:
        return 2, value.encode("utf-8", "surrogateescape")


def newest_first_seen(found: list[FirstSeen], top: int) -> list[FirstSeen]:
    """The ``top`` most recently first-seen executables (ties by name)."""
    found.sort(key=lambda f: text_order(f.exe))
    found.sort(key=lambda f: f.first, reverse=True)
    return found[:top]


class _Reporter:
    def __init__(self, conn: sqlite3.Connection, event_filter: EventFilter, top: int) -> None:
        self.conn, self.filter, self.top = conn, event_filter, top
        self.where = filter_sql(event_filter)

    def rows(self, select: str, tail: str = "", extra: str | None = None) -> list[Any]:
        where = Where(list(self.where.clauses), list(self.where.params))
        if extra:
            where.add(extra)
        return self.conn.execute(
            f"SELECT {select} FROM events e{where.sql()} {tail}", where.params
        ).fetchall()

    def users(self, column: str) -> list[UserCount]:
        rows = self.rows(f"e.{column}, count(*)", f"GROUP BY e.{column} ORDER BY 2 DESC, 1 LIMIT {self.top}")
        return [UserCount(uid, user_name(uid), n) for uid, n in rows]

    def first_seen(self) -> list[FirstSeen]:
        in_range = self.rows("e.exe, count(*)", "GROUP BY e.exe", "e.success = 1")
        ever = dict(self.conn.execute("SELECT exe, min(time_ms) FROM events WHERE success = 1 GROUP BY exe"))
        start = None if self.filter.start is None else ms_at_or_after(self.filter.start)
        found = [
            FirstSeen(load_text(exe), stored_time(ever[exe]), n)
            for exe, n in in_range
            if exe in ever and (start is None or ever[exe] >= start)
        ]
        return newest_first_seen(found, self.top)

    def writable(self) -> list[WritableExec]:
        program = (
            "CAST(CASE WHEN e.success THEN e.exe WHEN substr(e.path, 1, 1) = '/' THEN e.path "
            "ELSE e.cwd || '/' || e.path END AS BLOB)"
        )
        where = Where(list(self.where.clauses), list(self.where.params))
        inner = f"SELECT {program} AS prog, e.time_ms AS t FROM events e{where.sql()}"
        prefixes = " OR ".join(f"substr(prog, 1, {len(p)}) = CAST('{p}' AS BLOB)" for p in WRITABLE_DIRS)
        candidates = f"{prefixes} OR instr(prog, CAST('/.' AS BLOB)) OR instr(prog, CAST('{MEMFD}' AS BLOB))"
        sql = f"SELECT prog, count(*), min(t), max(t) FROM ({inner}) WHERE {candidates} GROUP BY prog"
        out = []
        for prog, n, first, last in self.conn.execute(sql, where.params):
            text = load_text(prog)
            place = place_of(text) if text else None
            if text and place:
                out.append(WritableExec(text, place, n, stored_time(first), stored_time(last)))
        out.sort(key=lambda w: (-w.count, w.program))
        return out

    def build(self) -> Report:
        ((total, failed, first, last),) = self.rows(
            "count(*), sum(1 - e.success), min(e.time_ms), max(e.time_ms)"
        )
        exes = self.rows(
            "e.exe, count(*), count(DISTINCT e.uid)",
            f"GROUP BY e.exe ORDER BY 2 DESC, 1 LIMIT {self.top}",
            "e.success = 1",
        )
        failures = self.rows(
            "e.path, e.exit, count(*)",
            f"GROUP BY e.path, e.exit ORDER BY 3 DESC, 1, 2 LIMIT {self.top}",
            "e.success = 0",
        )
        hours = self.rows(
            "e.time_ms / 3600000, count(*), ifnull(sum(1 - e.success), 0)", "GROUP BY 1 ORDER BY 1"
        )
        return Report(
            total=int(total or 0),
            failed=int(failed or 0),
            first=None if first is None else stored_time(first),
            last=None if last is None else stored_time(last),
            top_exes=[ExeCount(load_text(x), n, u) for x, n, u in exes],
            top_users=self.users("uid"),
            top_login_users=self.users("auid"),
            failures=[FailureCount(load_text(p), x, errno_name(x), n) for p, x, n in failures],
            first_seen=self.first_seen(),
            writable=self.writable(),
            per_hour=[HourCount(stored_time(h * HOUR_MS), n, f) for h, n, f in hours],
        )


def report(conn: sqlite3.Connection, event_filter: EventFilter | None = None, top: int = 10) -> Report:
    """The summaries over the events ``event_filter`` matches (``top`` rows per ranking)."""
    return _Reporter(conn, event_filter or EventFilter(), top).build()
