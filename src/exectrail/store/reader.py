"""Reading events back: an :class:`~exectrail.filters.EventFilter` as SQL, rows as events.

:func:`filter_sql` translates a filter into a WHERE clause with exactly the semantics of
``EventFilter.matches`` (globs, comma-separated keys and command-line substrings are evaluated by
small SQL functions registered on the connection), so counts and aggregates in SQL agree with
``review`` on the same events.
"""

from __future__ import annotations

import fnmatch
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.store.codec import (
    COLUMNS,
    argv_line,
    load_text,
    row_to_event,
    store_text,
)
from exectrail.store.errors import StoreError
from exectrail.timefmt import ms_to_time, time_to_ms

SELECT_EVENTS = "SELECT " + ", ".join(f"e.{c}" for c in COLUMNS) + " FROM events e"


def time_order(descending: bool = False) -> str:
    """``ORDER BY`` time, then serial and node: the order of the identity index (no sorting needed)."""
    d = " DESC" if descending else ""
    return f" ORDER BY e.time_ms{d}, e.serial{d}, ifnull(e.node, ''){d}"


_GLOB_CHARS = "*?["


@dataclass
class Where:
    """A WHERE clause under construction: AND of ``clauses`` with positional ``params``."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _glob(pattern: str | bytes, value: str | bytes | None) -> bool:
    text = load_text(value)
    return text is not None and fnmatch.fnmatchcase(text, load_text(pattern) or "")


def _has_key(value: str | bytes | None, key: str | bytes) -> bool:
    text = load_text(value)
    return text is not None and load_text(key) in text.split(",")


def _argv_contains(blob: bytes | None, needle: bytes) -> bool:
    line = argv_line(blob)
    return needle in (line if line is not None else b"")


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions :func:`filter_sql` uses (``et_glob``, ``et_has_key``, ``et_argv_contains``)."""
    conn.create_function("et_glob", 2, _glob, deterministic=True)
    conn.create_function("et_has_key", 2, _has_key, deterministic=True)
    conn.create_function("et_argv_contains", 2, _argv_contains, deterministic=True)


def _in(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    vals = sorted(values, key=repr)
    if len(vals) == 1:
        return f"{column} = ?", vals
    return f"{column} IN ({', '.join('?' * len(vals))})", vals


def _text_match(where: Where, column: str, patterns: Sequence[str]) -> None:
    exact = [store_text(p) for p in patterns if not any(ch in p for ch in _GLOB_CHARS)]
    globs = [p for p in patterns if any(ch in p for ch in _GLOB_CHARS)]
    parts: list[str] = []
    params: list[Any] = []
    if exact:
        sql, vals = _in(f"e.{column}", dict.fromkeys(exact))
        parts.append(sql)
        params += vals
    for pattern in globs:
        parts.append(f"et_glob(?, CAST(e.{column} AS BLOB))")
        params.append(store_text(pattern))
    where.add("(" + " OR ".join(parts) + ")", *params)


def ms_at_or_after(time: datetime) -> int:
    """The smallest stored millisecond value not before ``time``."""
    ms = time_to_ms(time)
    return ms + 1 if time.microsecond % 1000 else ms


def filter_sql(f: EventFilter, where: Where | None = None) -> Where:
    """``f`` as SQL over the ``events`` table aliased ``e``."""
    where = where if where is not None else Where()
    for column, values in (("pid", f.pids), ("ppid", f.ppids), ("uid", f.uids)):
        if values:
            sql, vals = _in(f"e.{column}", values)
            where.add(sql, *vals)
    if f.auids:
        known = [a for a in f.auids if a is not None]
        parts = ["e.auid IS NULL"] if None in f.auids else []
        if known:
            sql, vals = _in("e.auid", known)
            parts.append(sql)
        where.add("(" + " OR ".join(parts) + ")", *(vals if known else []))
    if f.comms:
        _text_match(where, "comm", f.comms)
    if f.exes:
        _text_match(where, "exe", f.exes)
    if f.keys:
        where.add(
            "(" + " OR ".join("et_has_key(CAST(e.key AS BLOB), ?)" for _ in f.keys) + ")",
            *(store_text(k) for k in f.keys),
        )
    if f.success is not None:
        where.add("e.success = ?", 1 if f.success else 0)
    if f.start is not None:
        where.add("e.time_ms >= ?", ms_at_or_after(f.start))
    if f.end is not None:
        where.add("e.time_ms <= ?", time_to_ms(f.end))
    if f.argv_contains:
        needles = [t.encode("utf-8", "surrogateescape") for t in f.argv_contains]
        where.add(
            "(" + " OR ".join("et_argv_contains(CAST(e.argv AS BLOB), ?)" for _ in needles) + ")", *needles
        )
    return where


def fetch_events(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any] = (), arraysize: int = 512
) -> Iterator[ExecEvent]:
    """Run ``sql`` (selecting :data:`~exectrail.store.codec.COLUMNS` first) and yield events.

    A row exectrail cannot have written (a value of the wrong type or out of range: the file was
    edited or damaged) ends the query with a :class:`~exectrail.store.db.StoreError` naming it."""
    cursor = conn.execute(sql, params)
    while True:
        try:
            rows = cursor.fetchmany(arraysize)
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):
                raise
            # TEXT that is not UTF-8: exectrail stores such text as a BLOB, so someone wrote it
            raise StoreError(f"the store holds text that is not UTF-8: {_EDITED}") from None
        if not rows:
            return
        for row in rows:
            try:
                yield row_to_event(row)
            except _BAD_VALUE:
                raise StoreError(f"the stored event {_shown(row)} cannot be read: {_EDITED}") from None


def stored_time(ms: object) -> datetime:
    """:func:`~exectrail.timefmt.ms_to_time` of a value read from the store (an aggregate, say);
    a :class:`~exectrail.store.db.StoreError` when no exectrail could have written it."""
    if type(ms) is int and 0 <= ms <= MAX_MS:
        return ms_to_time(ms)
    raise StoreError(f"a stored time ({str(ms)[:24]!r}) cannot be one exectrail wrote: {_EDITED}")


class SuccessfulExecs:
    """``(pid, exe, time_ms)`` of every successful exec stored, streamed; rows edited into nonsense (a
    time that is not a number or out of range, a pid that is text) are left out and counted in
    ``damaged`` (complete once the iteration ends)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.damaged = 0

    def __iter__(self) -> Iterator[tuple[int, str | None, int]]:
        for pid, exe, when in self.conn.execute("SELECT pid, exe, time_ms FROM events WHERE success = 1"):
            if (
                type(pid) is not int
                or type(when) is not int
                or not MIN_MS <= when <= MAX_MS
                or (exe is not None and not isinstance(exe, str | bytes))
            ):
                self.damaged += 1
                continue
            yield pid, load_text(exe), when


MIN_MS = -62135596800000  # 0001-01-01T00:00:00Z, the first time a stored row can hold
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z, the last time the decoder accepts
_BAD_VALUE = (TypeError, ValueError, OverflowError, AttributeError)
_EDITED = "the store was edited or damaged ('exectrail verify' says where)"


def _shown(row: Sequence[Any]) -> str:
    """``time_ms=…, serial=…`` of a row, each value cut short."""
    return ", ".join(f"{name}={str(value)[:24]!r}" for name, value in zip(COLUMNS[:2], row, strict=False))
