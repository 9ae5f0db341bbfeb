"""Stores written before events could be incomplete (schema 2) still verify after the migration.

``tests/data/store_schema2.sqlite`` was written by exectrail at commit 8743682 (schema 2): the first 400
lines of ``workload_enriched.log`` imported, four hand-made events (non-UTF-8 text, a failed exec, an
argv holding a NUL, an empty argv) and one alarm. Its head and digests below were printed by that code.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from exectrail.model import ExecEvent
from exectrail.store import EventStore
from exectrail.store.codec import event_to_row, row_to_event
from exectrail.store.reader import SELECT_EVENTS, fetch_events
from exectrail.store.schema import LATEST
from exectrail.store.verify import verify
from tests.support.cli import run_cli
from tests.support.paths import DATA

FIXTURE = DATA / "store_schema2.sqlite"
HEAD_V2 = "91:4dc049f71e2d2bee84c2a556ed4f6c774a93d9141f2aafca62b76d556d471010"
DIGESTS_V2 = {
    900001: "a3292da568a7620a4f331f3b3ca4236468f030d3c93a1621ffe619bcdc8e11f7",
    900002: "361871bb398b35d3191f320b6e7918a779a82dc4ddec56a35e80e087b5ba0ef9",
    900003: "93d08d8ff78a60ecc1a5d8b735db3f3543ab341ee45bba74a43d56dad4ecb138",
    900004: "b26ae551fd02cf9672ad90987f1e73c70890f33412277e3e33133df741a97288",
}


def _copy(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, db)
    db.chmod(0o600)
    return db


def _events(db: Path) -> list[ExecEvent]:
    with EventStore(db, readonly=True) as store:
        return list(fetch_events(store.conn, SELECT_EVENTS + " ORDER BY e.seq"))


def test_fixture_is_schema_2() -> None:
    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (2,)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
    assert "incomplete" not in columns


def test_old_store_verifies_after_migration_with_the_same_head_and_digests(tmp_path: Path) -> None:
    db = _copy(tmp_path)
    result = run_cli(["verify", "--db", str(db), "--expect", HEAD_V2])
    assert result.exit_code == 0, result.output
    with EventStore(db) as store:
        assert store.conn.execute("SELECT max(version) FROM schema_version").fetchone() == (LATEST,)
        assert store.head() == HEAD_V2
        stored = dict(store.conn.execute("SELECT serial, hex(digest) FROM events WHERE serial > 900000"))
        assert {k: v.lower() for k, v in stored.items()} == DIGESTS_V2
        assert store.conn.execute("SELECT count(*), sum(incomplete) FROM events").fetchone() == (91, 0)
        assert store.conn.execute("SELECT count(*) FROM alarms").fetchone() == (1,)
        # the migrated columns take NULL now
        notnull = {r[1] for r in store.conn.execute("PRAGMA table_info(events)") if r[3]}
        assert notnull == {"time_ms", "serial", "incomplete", "fileless", "digest", "chain"}
        assert store.conn.execute(
            "SELECT count(*) FROM events WHERE script IS NULL AND fileless = ''"
        ).fetchone() == (91,)


def test_migrated_events_are_the_old_ones_and_take_incomplete_events(tmp_path: Path) -> None:
    db = _copy(tmp_path)
    events = _events(db)
    assert len(events) == 91 and not any(e.incomplete for e in events)
    bad = next(e for e in events if e.serial == 900002)
    assert bad.exe == b"/tmp/\xff\xfe-x".decode("utf-8", "surrogateescape") and bad.node == "h\xf6st"
    assert next(e for e in events if e.serial == 900003).argv == (b"a\0b", b"\xff", b"")
    # an event with every SYSCALL field unknown, stored after the old rows, and one complete again
    nulls = dict.fromkeys(
        ("arch", "syscall", "success", "exit", "pid", "ppid", "uid", "euid", "suid", "fsuid", "gid", "egid",
         "sgid", "fsgid"),
    )  # fmt: skip
    lost = replace(events[0], serial=990001, incomplete=True, **nulls)  # type: ignore[arg-type]
    again = replace(events[1], serial=990002)
    with EventStore(db) as store, store.writer() as writer:
        assert writer.add(lost) and writer.add(again)
    with EventStore(db, readonly=True) as store:
        assert verify(store.conn).ok
    stored = _events(db)
    assert stored[:91] == events and stored[91:] == [lost, again]
    assert row_to_event(event_to_row(lost)) == lost


def test_flipping_incomplete_in_a_migrated_store_is_an_edit(tmp_path: Path) -> None:
    db = _copy(tmp_path)
    with EventStore(db) as store:
        assert verify(store.conn).ok
        store.conn.execute("UPDATE events SET incomplete = 1 WHERE seq = 5")
        store.conn.commit()
        result = verify(store.conn)
    assert result.problem is not None and (result.problem.kind, result.problem.seq) == ("edited", 5)
