"""Bad stores and bad places: one-line errors, exit 2, nothing half-written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exectrail.model import ExecEvent
from exectrail.store import EventStore, StoreFullError, schema
from exectrail.store.reader import SELECT_EVENTS, fetch_events
from exectrail.store.verify import verify
from tests.support.captures import read_events
from tests.support.ci import skip_or_fail
from tests.support.cli import run
from tests.support.paths import CAPTURED_LOGS as LOGS

COMMANDS = [("search",), ("verify",), ("report",), ("timeline",), ("tree", "1"), ("import", str(LOGS[0]))]


def _one_line_error(args: tuple[str, ...], db: Path, expected: str) -> None:
    result = run(*args, "--db", str(db))
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("exectrail: "), result.stderr
    assert expected in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", COMMANDS)
def test_not_a_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "events.db"
    content = os.urandom(8192)
    db.write_bytes(content)
    _one_line_error(args, db, "not an exectrail store (not an SQLite database")
    assert db.read_bytes() == content and not Path(f"{db}-wal").exists()


@pytest.mark.parametrize("args", COMMANDS)
def test_someone_elses_sqlite_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    content = db.read_bytes()
    _one_line_error(args, db, "an SQLite database, but not an exectrail store")
    assert db.read_bytes() == content


@pytest.mark.parametrize("args", COMMANDS)
def test_newer_schema(filled: Path, args: tuple[str, ...]) -> None:
    with sqlite3.connect(filled) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'later', 'from the future')")
        count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    _one_line_error(
        args, filled, f"schema version 99 is newer than this exectrail supports ({schema.LATEST})"
    )
    with sqlite3.connect(filled) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == count


@pytest.mark.parametrize("args", COMMANDS[:-1])
def test_damaged_store(filled: Path, args: tuple[str, ...]) -> None:
    """Pages overwritten with garbage (disk damage): the queries that touch them say so."""
    with sqlite3.connect(filled) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = filled.stat().st_size
    with filled.open("r+b") as fh:
        fh.seek(size // 3)
        fh.write(os.urandom(size // 3))
    result = run(*args, "--db", str(filled))
    if result.exit_code == 2:
        assert "corrupt" in result.stderr or "not an exectrail store" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    else:  # a query that did not read the damaged pages, or verify naming the damaged rows
        assert result.exit_code in (0, 1) and "Traceback" not in result.stderr


def test_missing_store_and_directory(tmp_path: Path) -> None:
    _one_line_error(("search",), tmp_path / "nothing.db", "no exectrail store here")
    assert not (tmp_path / "nothing.db").exists()
    _one_line_error(("search",), tmp_path, "is a directory")


def test_disk_full_through_the_api(db: Path, real_events: list[ExecEvent]) -> None:
    """``max_page_count`` makes SQLite report a full disk: the batch is rolled back, the rest intact."""
    with EventStore(db) as store:
        writer = store.writer(batch_size=50)
        store.conn.execute("PRAGMA max_page_count = 60")
        stored_before = 0
        with pytest.raises(StoreFullError, match="disk full"):
            for event in real_events:
                writer.add(event)
                stored_before = writer.stats.stored
        assert writer.stats.stored == stored_before > 0
        assert store.count() == stored_before
        assert verify(store.conn).ok
        writer.discard()
    with EventStore(db, readonly=True) as store:
        assert (
            list(fetch_events(store.conn, SELECT_EVENTS + " ORDER BY e.seq")) == real_events[:stored_before]
        )


# ---- real file systems (root: tmpfs mounts) ----------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_or_fail("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _remount_ro(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)


def test_read_only_file_system(tiny_fs: Path) -> None:
    db = tiny_fs / "events.db"
    assert run("import", "--db", str(db), str(LOGS[0])).exit_code == 0
    head = run("verify", "--db", str(db), "--head").stdout
    _remount_ro(tiny_fs)
    new = tiny_fs / "sub" / "new.db"
    _one_line_error(("import", str(LOGS[0])), new, "cannot create")
    _one_line_error(("import", str(LOGS[1])), db, "cannot write here")
    assert not new.exists()
    # evidence on a read-only medium can still be examined
    for args in (("search", "--limit", "2"), ("report",), ("timeline",), ("verify",)):
        result = run(*args, "--db", str(db))
        assert result.exit_code == 0, (args, result.stderr)
    assert run("verify", "--db", str(db), "--head").stdout == head


def test_disk_full_during_import(tiny_fs: Path) -> None:
    db = tiny_fs / "events.db"
    ballast = tiny_fs / "ballast"
    ballast.write_bytes(b"\0" * 300_000)
    result = run("import", "--db", str(db), "--batch-size", "40", *map(str, LOGS))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "disk full" in result.stderr, result.stderr
    ballast.unlink()  # room for SQLite's own bookkeeping when reading
    check = run("verify", "--db", str(db))
    assert check.exit_code == 0, check.stdout
    stored = int(check.stdout.split()[1])
    assert stored > 0 and f"the {stored} new events stored before are intact" in result.stderr
    with EventStore(db, readonly=True) as store:  # whole batches, in input order, nothing else
        kept = list(fetch_events(store.conn, SELECT_EVENTS + " ORDER BY e.seq"))
    assert kept == read_events(*LOGS)[:stored]
