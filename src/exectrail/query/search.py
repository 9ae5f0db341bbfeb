"""``search``: stored events matching the review filters and full-text words, in time order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from exectrail.errors import UsageError
from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.store.reader import SELECT_EVENTS, Where, fetch_events, filter_sql, time_order


@dataclass(frozen=True)
class SearchQuery:
    """What to look for.

    ``text``: words that must all occur in the command line (a failed exec's path), matched as
    whole words ignoring case and accents (SQLite FTS5 ``unicode61``); ``/tmp/evil.sh`` matches the
    words tmp, evil, sh next to each other; a trailing ``*`` matches a prefix (``curl*``).
    """

    filter: EventFilter = field(default_factory=EventFilter)
    text: tuple[str, ...] = ()
    limit: int | None = None
    newest_first: bool = False


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted phrase (prefix with ``*``), all required."""
    terms = []
    for text in words:
        for word in text.split():
            prefix = word.endswith("*")
            core = word.rstrip("*")
            if not any(ch.isalnum() for ch in core):
                continue
            terms.append('"' + core.replace('"', '""') + '"' + (" *" if prefix else ""))
    if not terms:
        raise UsageError("--text needs at least one word with letters or digits")
    return " AND ".join(terms)


def search_sql(query: SearchQuery) -> tuple[str, list[object]]:
    """The SQL and parameters of ``query``."""
    where = Where()
    if query.text:
        where.add("e.seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)", fts_query(query.text))
    filter_sql(query.filter, where)
    sql = SELECT_EVENTS + where.sql() + time_order(query.newest_first)
    if query.limit is not None:
        sql += f" LIMIT {int(query.limit)}"
    return sql, where.params


def search(conn: sqlite3.Connection, query: SearchQuery) -> Iterator[ExecEvent]:
    """The matching events, oldest first (newest first with ``newest_first``); events of the same
    millisecond by serial."""
    sql, params = search_sql(query)
    return fetch_events(conn, sql, params)
