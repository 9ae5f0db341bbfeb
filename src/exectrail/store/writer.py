"""The one writer of a store: batched, de-duplicating, hash-chaining inserts.

Each batch is committed in one ``BEGIN IMMEDIATE`` transaction that reads the chain head, drops
events already stored (by ``node``, timestamp and serial — also those another writer stored since
:meth:`~StoreWriter.add` answered), chains the rest in order and inserts them with their full-text
rows. SQLite's write lock makes concurrent writers take turns, and since the head is read inside the
transaction the chain stays unbroken. A failed batch is rolled back completely.

"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from exectrail.model import ExecEvent
from exectrail.store.chain import GENESIS, digest, link
from exectrail.store.codec import COLUMNS, Row, event_to_row, search_text
from exectrail.store.db import StoreError, sqlite_errors
from exectrail.store.lock import begin_immediate

DEFAULT_BATCH = 5000

_INSERT_EVENT = (
    f"INSERT INTO events (seq, {', '.join(COLUMNS)}, digest, chain) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})"
)
_INSERT_TEXT = "INSERT INTO events_fts (rowid, cmdline) VALUES (?, ?)"
_PROBE = "SELECT 1 FROM events WHERE time_ms = ? AND serial = ? AND ifnull(node, '') = ?"
_IN_RANGE = "SELECT time_ms, serial, ifnull(node, '') FROM events WHERE time_ms BETWEEN ? AND ?"
_HEAD = "SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1"

Identity = tuple[int, int, Any]
Prepared = tuple[Row, bytes, str]  # stored columns, digest, full-text: see :func:`prepare`


def prepare(event: ExecEvent) -> Prepared:
    """What the writer stores for ``event``; picklable, so another process can compute it
    (:mod:`exectrail.store.ingest`) and hand it to :meth:`StoreWriter.add_prepared`."""
    row = event_to_row(event)
    return row, digest(row), search_text(event)


@dataclass
class WriteStats:
    """``stored``: committed new events; ``duplicate``: events found already stored (or twice in
    the input); ``pending``: accepted by :meth:`StoreWriter.add`, not committed yet."""

    stored: int = 0
    duplicate: int = 0
    pending: int = 0


class StoreWriter:
    """Adds events to a store (see :mod:`exectrail.store` for the contract)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, batch_size: int = DEFAULT_BATCH) -> None:
        self._conn, self._path = conn, path
        self._batch_size = max(1, batch_size)
        self._rows: list[Prepared] = []
        self._keys: set[Identity] = set()
        self._closed = False
        self.stats = WriteStats()
        with sqlite_errors(path):
            latest = conn.execute("SELECT max(time_ms) FROM events").fetchone()[0]
        self._latest_ms: int = -1 if latest is None else latest

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, event: ExecEvent) -> bool:
        """Queue ``event``; True when it is new (not stored yet and not queued before).

        Commits by itself every ``batch_size`` events. "New" is final unless another writer stores
        the same event before it is committed; it is then counted as a duplicate.
        """
        return self.add_prepared(prepare(event))

    def add_prepared(self, item: Prepared) -> bool:
        """:meth:`add` for an event already turned into ``prepare(event)``."""
        if self._closed:
            raise StoreError(f"{self._path}: writer is closed")
        row = item[0]
        key = (row[0], row[1], row[2] or "")
        if key in self._keys or (row[0] <= self._latest_ms and self._stored(key)):
            self.stats.duplicate += 1
            return False
        self._keys.add(key)
        self._rows.append(item)
        self.stats.pending += 1
        if len(self._rows) >= self._batch_size:
            self.flush()
        return True

    def _stored(self, key: Identity) -> bool:
        with sqlite_errors(self._path):
            return bool(self._conn.execute(_PROBE, key).fetchall())

    def flush(self) -> int:
        """Commit everything queued in one transaction; return how many events were stored.

        On an error the transaction is rolled back, the batch is dropped (nothing of it is stored)
        and a :class:`~exectrail.store.db.StoreError` is raised
        (:class:`~exectrail.store.db.StoreFullError` for a full disk); the writer stays usable.
        """
        rows, self._rows = self._rows, []
        self._keys = set()
        self.stats.pending = 0
        if not rows:
            return 0
        conn = self._conn
        with sqlite_errors(self._path):
            begin_immediate(conn)
            try:
                stored = self._insert(rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self.stats.stored += stored
        return stored

    def _insert(self, rows: list[Prepared]) -> int:
        conn = self._conn
        head = conn.execute(_HEAD).fetchone()
        seq, chain = (0, GENESIS) if head is None else head
        times = [row[0] for row, _, _ in rows]
        stored = set(conn.execute(_IN_RANGE, (min(times), max(times))).fetchall())
        if stored:
            kept = [item for item in rows if (item[0][0], item[0][1], item[0][2] or "") not in stored]
            self.stats.duplicate += len(rows) - len(kept)
            rows = kept
        events: list[Row] = []
        texts: list[tuple[int, str]] = []
        for row, row_digest, text in rows:
            seq += 1
            chain = link(chain, row_digest)
            events.append((seq, *row, row_digest, chain))
            texts.append((seq, text))
        conn.executemany(_INSERT_EVENT, events)
        conn.executemany(_INSERT_TEXT, texts)
        self._latest_ms = max(self._latest_ms, *times)
        return len(events)

    def discard(self) -> int:
        """Drop what is queued without storing it (after an error); return how many were dropped."""
        dropped = len(self._rows)
        self._rows, self._keys = [], set()
        self.stats.pending = 0
        return dropped

    def close(self) -> None:
        """Commit what is queued; the writer cannot be used afterwards (the store stays open)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, StoreError):
            self.discard()
            self._closed = True
        else:
            self.close()
