"""Schema versions and migrations: a store made by an older exectrail is brought up to date."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exectrail.model import ExecEvent
from exectrail.schema import BOOL, LIST, STORED
from exectrail.store import EventStore, schema
from exectrail.store.schema import Migration, migrate
from exectrail.store.verify import verify


def test_new_store_is_at_the_latest_version(db: Path) -> None:
    EventStore(db).close()
    with sqlite3.connect(db) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in schema.MIGRATIONS]
        assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "events", "events_fts"} <= tables


def as_version_1(event: ExecEvent) -> ExecEvent:
    """The event as a version-1 store holds it: the later fields at what their migrations gave."""
    later: dict[str, Any] = {
        f.name: False if f.kind == BOOL else () if f.kind == LIST else None for f in STORED if f.store > 1
    }
    return replace(event, **later)


def test_old_store_is_migrated_on_open_keeping_its_events(db: Path, real_events: list[ExecEvent]) -> None:
    """A version-1 store (made with only the first migration) opened by this exectrail."""
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, schema.MIGRATIONS[:1])
    conn.close()
    with EventStore(db) as store, store.writer() as writer:
        for event in real_events[:50]:  # as a version-1 store holds them: without the later fields
            writer.add(as_version_1(event))
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM schema_version WHERE version > 1")
        for table in [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]:
            if table not in ("schema_version", "events") and not table.startswith("events_fts"):
                conn.execute(f"DROP TABLE {table}")
    with EventStore(db, readonly=True) as store:  # a reader migrates too
        assert schema.current_version(store.conn) == schema.LATEST
        assert store.count() == 50 and verify(store.conn).ok


def test_a_later_migration_applies_once(db: Path, real_events: list[ExecEvent]) -> None:
    with EventStore(db) as store, store.writer() as writer:
        for event in real_events[:10]:
            writer.add(event)
    extra = Migration(
        schema.LATEST + 1, "test: a notes table", ("CREATE TABLE notes (seq INTEGER, text TEXT)",)
    )
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn, (*schema.MIGRATIONS, extra)) == schema.LATEST + 1
    assert migrate(conn, (*schema.MIGRATIONS, extra)) == schema.LATEST + 1
    assert (
        conn.execute("SELECT count(*) FROM schema_version WHERE version = ?", (extra.version,)).fetchone()[0]
        == 1
    )
    conn.close()


def test_failed_migration_leaves_the_store_as_it_was(db: Path) -> None:
    EventStore(db).close()
    bad = Migration(schema.LATEST + 1, "broken", ("CREATE TABLE fine (x)", "THIS IS NOT SQL"))
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, (*schema.MIGRATIONS, bad))
    assert schema.current_version(conn) == schema.LATEST
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'fine'").fetchone()[0] == 0
    conn.close()
