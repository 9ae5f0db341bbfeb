"""``timeline``: one login session's (or login user's, or terminal's) executions in order, and the
list of sessions to choose from."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.store.codec import load_text, store_text
from exectrail.store.reader import SELECT_EVENTS, Where, fetch_events, filter_sql, stored_time, time_order


@dataclass(frozen=True)
class TimelineQuery:
    """``session`` and ``tty`` select (``session`` None with ``unset_session`` for ses=unset);
    the filter's ``auids`` select a login user."""

    filter: EventFilter = field(default_factory=EventFilter)
    session: int | None = None
    unset_session: bool = False
    tty: str | None = None

    @property
    def selects(self) -> bool:
        return (
            self.session is not None or self.unset_session or self.tty is not None or bool(self.filter.auids)
        )


@dataclass(frozen=True)
class SessionSummary:
    """One login session as the stored events show it."""

    ses: int | None
    auid: int | None
    ttys: tuple[str, ...]
    first: datetime
    last: datetime
    events: int
    failed: int
    host: str | None = None  # the fleet's sessions are per host


def _where(query: TimelineQuery) -> Where:
    where = Where()
    if query.unset_session:
        where.add("e.ses IS NULL")
    elif query.session is not None:
        where.add("e.ses = ?", query.session)
    if query.tty is not None:
        where.add("e.tty = ?", store_text(query.tty))
    return filter_sql(query.filter, where)


def timeline(conn: sqlite3.Connection, query: TimelineQuery) -> Iterator[ExecEvent]:
    """The selected events, oldest first."""
    where = _where(query)
    sql = SELECT_EVENTS + where.sql() + time_order()
    return fetch_events(conn, sql, where.params)


def sessions(conn: sqlite3.Connection, event_filter: EventFilter) -> list[SessionSummary]:
    """Every session among the events ``event_filter`` matches, oldest first."""
    where = filter_sql(event_filter)
    sql = (
        "SELECT e.ses, e.auid, group_concat(DISTINCT e.tty), min(e.time_ms), max(e.time_ms), count(*), "
        "ifnull(sum(1 - e.success), 0) FROM events e"
        + where.sql()
        + " GROUP BY e.ses, e.auid ORDER BY min(e.time_ms)"
    )
    out = []
    for ses, auid, ttys, first, last, count, failed in conn.execute(sql, where.params):
        tty_names = tuple(sorted(t for t in (load_text(ttys) or "").split(",") if t))
        out.append(SessionSummary(ses, auid, tty_names, stored_time(first), stored_time(last), count, failed))
    return out
