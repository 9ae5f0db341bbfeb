"""The tamper-evident event store (SQLite, WAL mode, hash-chained).

Writing (``exectrail import``, ``exectrail watch --db``, the ``sqlite:///PATH`` sink)::

    from exectrail.store import EventStore

    with EventStore(path) as store, store.writer() as writer:   # path None: default_db_path()
        for event in events:
            is_new = writer.add(event)      # False: already stored (or seen twice) — not stored again
            ...
            writer.flush()                  # live capture: at least every few seconds
    # leaving the ``with`` flushes; writer.stats has stored / duplicate / pending

``add`` queues and commits every ``batch_size`` events (default 5000); ``flush`` commits the queue
in one transaction and returns how many events it stored. Errors are
:class:`~exectrail.store.db.StoreError` (one line for the user; :class:`StoreFullError` when the
disk is full) and leave the store exactly as it was before the failed transaction; the failed
batch is dropped and the writer stays usable. One writer per :class:`EventStore`; the connection may
be used from another thread than the one that opened it, but by one thread at a time. Several
writers in several processes are safe (SQLite serialises them, each transaction re-reads the chain
head, so the chain stays continuous); they take turns at every batch.

Bulk loading in two processes: :func:`~exectrail.store.writer.prepare` (picklable result) in one,
:meth:`StoreWriter.add_prepared` in the other; :class:`exectrail.store.ingest.LogReader` does this
for audit logs.

Reading: ``EventStore(path, readonly=True)`` (works on read-only media) then
:mod:`exectrail.store.reader` / :mod:`exectrail.query`; :mod:`exectrail.store.verify` checks the
chain. Layout and hashing are in :mod:`exectrail.store.schema`, :mod:`exectrail.store.codec` and
:mod:`exectrail.store.chain`. Other tables (e.g. ``alarms``) come by migrations in ``schema``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType

from exectrail.store.chain import format_head
from exectrail.store.db import (
    StoreError,
    StoreFullError,
    default_db_path,
    open_connection,
    sqlite_errors,
)
from exectrail.store.writer import DEFAULT_BATCH, StoreWriter, WriteStats


class EventStore:
    """An open store file.

    ``create`` (default True unless ``readonly``) makes a new store (mode 0600, parent
    directories 0700) when ``path`` does not exist. ``readonly`` opens for queries only.
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False, create: bool | None = None):
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        self.conn: sqlite3.Connection = open_connection(
            self.path, create=(not readonly) if create is None else create, readonly=readonly
        )
        self._writer: StoreWriter | None = None

    def writer(self, batch_size: int = DEFAULT_BATCH) -> StoreWriter:
        """The store's writer (one at a time per :class:`EventStore`)."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        if self._writer is not None and not self._writer.closed:
            raise StoreError(f"{self.path}: this store already has an open writer")
        self._writer = StoreWriter(self.conn, self.path, batch_size)
        return self._writer

    def count(self) -> int:
        """Number of stored events."""
        with sqlite_errors(self.path):
            row = self.conn.execute("SELECT seq FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return 0 if row is None else int(row[0])

    def head(self) -> str | None:
        """The chain head as ``SEQ:HEX`` (None for an empty store)."""
        with sqlite_errors(self.path):
            row = self.conn.execute("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else format_head(row[0], row[1])

    def close(self) -> None:
        """Close the writer (flushing it) and the connection."""
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self.conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, StoreError) and self._writer is not None:
            self._writer.discard()
        self.close()


__all__ = [
    "DEFAULT_BATCH",
    "EventStore",
    "StoreError",
    "StoreFullError",
    "StoreWriter",
    "WriteStats",
    "default_db_path",
]
