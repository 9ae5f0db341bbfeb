"""The writer: de-duplication, batching, file modes, default paths, concurrent writers."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exectrail.model import ExecEvent
from exectrail.store import EventStore, StoreError, default_db_path
from exectrail.store.reader import SELECT_EVENTS, fetch_events
from exectrail.store.verify import verify
from tests.support.strategies import replicate


def _stored(db: Path) -> list[ExecEvent]:
    with EventStore(db, readonly=True) as store:
        return list(fetch_events(store.conn, SELECT_EVENTS + " ORDER BY e.seq"))


def test_events_come_back_exactly_in_insertion_order(filled: Path, real_events: list[ExecEvent]) -> None:
    assert len({e.event_id for e in real_events}) == len(real_events)
    assert _stored(filled) == real_events


def test_same_event_is_stored_once(db: Path, real_events: list[ExecEvent]) -> None:
    events = real_events[:300]
    with EventStore(db) as store, store.writer(batch_size=64) as writer:
        assert [writer.add(e) for e in events] == [True] * 300
        assert [writer.add(e) for e in events[250:]] == [False] * 50  # queued, not committed yet
        writer.flush()
        assert [writer.add(e) for e in events[:10]] == [False] * 10  # committed
        assert writer.stats.stored == 300 and writer.stats.duplicate == 60
    with EventStore(db) as store, store.writer() as writer:
        for event in real_events:
            writer.add(event)
    assert (writer.stats.stored, writer.stats.duplicate) == (len(real_events) - 300, 300)
    assert _stored(db) == real_events


def test_identity_is_node_time_serial(db: Path, real_events: list[ExecEvent]) -> None:
    event = real_events[0]
    with EventStore(db) as store, store.writer() as writer:
        assert writer.add(replace(event, node=None))
        assert not writer.add(replace(event, node=""))  # no node and empty node are the same host
        assert not writer.add(replace(event, argv=(b"other",)))  # same identity, other content
        assert writer.add(replace(event, node="other-host"))
        assert writer.add(replace(event, serial=event.serial + 1))
    assert len(_stored(db)) == 3


def test_flush_returns_what_it_stored_and_batches_commit_themselves(
    db: Path, real_events: list[ExecEvent]
) -> None:
    with EventStore(db) as store:
        writer = store.writer(batch_size=100)
        for event in real_events[:250]:
            writer.add(event)
        assert store.count() == 200 and writer.stats.pending == 50  # two full batches committed
        assert writer.flush() == 50 and store.count() == 250
        assert writer.flush() == 0
        writer.close()
        with pytest.raises(StoreError, match="closed"):
            writer.add(real_events[300])
        with store.writer() as again:  # a new writer after the old one closed
            assert again.add(real_events[300])


def test_one_writer_per_store_object(db: Path) -> None:
    with EventStore(db) as store:
        store.writer()
        with pytest.raises(StoreError, match="already has an open writer"):
            store.writer()
    with EventStore(db, readonly=True) as store, pytest.raises(StoreError, match="read-only"):
        store.writer()


def test_file_modes(db: Path, real_events: list[ExecEvent]) -> None:
    with EventStore(db) as store, store.writer() as writer:
        writer.add(real_events[0])
        writer.flush()
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_db_path() == Path("/var/lib/exectrail/events.db")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "exectrail" / "events.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "exectrail" / "events.db"


def test_cli_uses_the_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.support.cli import run
    from tests.support.paths import CAPTURED_LOGS as LOGS

    target = tmp_path / "xdg" / "exectrail" / "events.db"
    monkeypatch.setattr("exectrail.store.db.default_db_path", lambda: target)
    monkeypatch.setattr("exectrail.store.default_db_path", lambda: target)
    monkeypatch.delenv("EXECTRAIL_DB", raising=False)
    assert run("import", str(LOGS[0])).exit_code == 0
    assert target.exists()
    assert run("verify").exit_code == 0


def _write(db: str, events: list[ExecEvent], batch: int, barrier: Any) -> tuple[int, int]:
    with EventStore(db) as store, store.writer(batch_size=batch) as writer:
        barrier.wait(60)
        for event in events:
            writer.add(event)
    return writer.stats.stored, writer.stats.duplicate


def test_concurrent_writers_keep_one_chain(db: Path, real_events: list[ExecEvent]) -> None:
    """Two processes import overlapping parts at the same time: every event stored once, the writes
    interleave, and the chain is unbroken."""
    EventStore(db).close()
    events = replicate(real_events, 10)
    half = len(events) // 2
    first, second = events[: half + 500], events[half - 500 :]  # 1000 events in both
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        a = pool.apply_async(_write, (str(db), first, 37, barrier))
        b = pool.apply_async(_write, (str(db), second, 53, barrier))
        (stored_a, dup_a), (stored_b, dup_b) = a.get(timeout=300), b.get(timeout=300)
    assert stored_a + stored_b == len(events)
    assert dup_a + dup_b == 1000
    stored = _stored(db)
    assert sorted(e.event_id for e in stored) == sorted(e.event_id for e in events)
    only_first = {e.event_id for e in events[: half - 500]}
    owners = [
        e.event_id in only_first
        for e in stored
        if e.event_id not in {x.event_id for x in events[half - 500 : half + 500]}
    ]
    switches = sum(1 for x, y in itertools.pairwise(owners) if x != y)
    assert switches > 2, "the two writers did not run at the same time"
    with EventStore(db, readonly=True) as store:
        assert verify(store.conn).ok


def test_helper_process_reads_the_same(tmp_path: Path) -> None:
    """``import`` parses in a helper process: same events, order, chain and counts as in-process."""
    from exectrail.store.ingest import LogReader
    from tests.support.paths import CAPTURED_LOGS as LOGS

    heads, counts = [], []
    for background in (True, False):
        db = tmp_path / f"{background}.db"
        reader = LogReader([str(p) for p in LOGS], background=background)
        with EventStore(db) as store, store.writer(batch_size=64) as writer:
            for item in reader:
                writer.add_prepared(item)
        reader.close()
        heads.append(EventStore(db, readonly=True).head())
        counts.append(
            (reader.stats.lines, reader.stats.records, reader.incomplete, reader.diagnostics.summary())
        )
    assert heads[0] == heads[1] and counts[0] == counts[1] and counts[0][0] > 3000


@pytest.mark.parametrize("background", [True, False])
def test_helper_process_errors_reach_the_caller(tmp_path: Path, background: bool) -> None:
    """An error while reading (here: the file vanished after the CLI checked it) is raised here."""
    from exectrail.store.ingest import LogReader

    reader = LogReader([str(tmp_path / "gone.log")], background=background)
    with pytest.raises(FileNotFoundError):
        list(reader)
    reader.close()
