"""The store (--db) and its -wal/-shm as root and as nobody: made private, never through a link,
never adopted from another user, never in a directory others can write (issue 11, item 4)."""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
from pathlib import Path

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from exectrail.store import EventStore
from tests.support.cli import run_cli
from tests.support.paths import DATA
from tests.support.rootsafe_users import BOTH, STRANGER, as_user, home_for, readable_copy

LOG = DATA / "interleaved_concurrent.log"


@functools.cache
def events() -> list[ExecEvent]:
    return list(read_exec_events([LOG], Diagnostics()))[:200]


def store_some(db: Path) -> int:
    with EventStore(db) as store, store.writer() as writer:
        for event in events():
            writer.add(event)
    with EventStore(db, readonly=True) as store:
        return store.count()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@BOTH
def test_a_new_store_and_its_wal_and_shm_are_private(uid: int) -> None:
    with home_for(uid) as home:
        db = home / "new" / "deeper" / "events.db"

        def write_and_look() -> dict[str, int]:
            with EventStore(db) as store, store.writer() as writer:
                for event in events():
                    writer.add(event)
                writer.flush()
                return {p.name: mode(p) for p in db.parent.iterdir()} | {
                    "new": mode(home / "new"),
                    "deeper": mode(db.parent),
                }

        modes = as_user(uid, write_and_look)
        assert modes == {
            "events.db": 0o600, "events.db-wal": 0o600, "events.db-shm": 0o600, "new": 0o700, "deeper": 0o700
        }  # fmt: skip
        assert os.stat(db).st_uid == uid


@BOTH
def test_a_store_owned_by_another_user_is_refused(uid: int) -> None:
    with home_for(uid) as home:
        db = home / "events.db"
        assert as_user(uid, lambda: store_some(db)) == len(events())
        os.chown(db, STRANGER, STRANGER)
        result = as_user(uid, lambda: store_some(db))
        assert result == f"UnsafePathError: {db}: owned by uid {STRANGER}, not by the running user; refused"


@BOTH
def test_a_store_writable_by_group_or_others_is_refused(uid: int) -> None:
    with home_for(uid) as home:
        for loose in (0o666, 0o620, 0o602):
            db = home / f"events-{loose:o}.db"
            db.touch()
            os.chown(db, uid, uid)
            db.chmod(loose)
            result = as_user(uid, functools.partial(store_some, db))
            assert result.startswith(f"UnsafePathError: {db}: writable by group or others"), result
            assert f"(mode {loose:04o})" in result and db.stat().st_size == 0


@BOTH
def test_a_store_that_is_a_symbolic_link_is_refused_and_creates_nothing(uid: int) -> None:
    with home_for(uid) as home:
        dangling, target = home / "dangling.db", home / "somewhere-else.db"
        dangling.symlink_to(target)
        result = as_user(uid, lambda: store_some(dangling))
        assert result == f"UnsafePathError: {dangling}: is a symbolic link; refused"
        assert not target.exists() and sorted(p.name for p in home.iterdir()) == ["dangling.db"]
        # a link to a real store is refused as well: the store's own name is the one to give
        real = home / "real.db"
        as_user(uid, lambda: store_some(real))
        link = home / "link.db"
        link.symlink_to(real)
        assert (
            as_user(uid, lambda: store_some(link)) == f"UnsafePathError: {link}: is a symbolic link; refused"
        )


@BOTH
def test_planted_wal_or_shm_links_are_refused_and_their_target_untouched(uid: int) -> None:
    with home_for(uid) as home:
        db = home / "events.db"
        as_user(uid, lambda: store_some(db))
        victim = home / "victim"
        victim.write_bytes(b"precious\n" * 100)
        os.chown(victim, uid, uid)
        for suffix in ("-wal", "-shm", "-journal"):
            planted = Path(f"{db}{suffix}")
            planted.unlink(missing_ok=True)
            planted.symlink_to(victim)
            for readonly in (False, True):

                def count(readonly: bool = readonly) -> int:
                    return EventStore(db, readonly=readonly).count()

                result = as_user(uid, count)
                if suffix == "-journal" and readonly:
                    continue  # a reader never writes a rollback journal
                assert result == f"UnsafePathError: {planted}: is a symbolic link; refused", result
            assert victim.read_bytes() == b"precious\n" * 100
            planted.unlink()


@BOTH
def test_a_store_directory_others_can_write_is_refused(uid: int) -> None:
    with home_for(uid) as home:
        for loose in (0o777, 0o1777, 0o770):
            shared = home / f"shared-{loose:o}"
            shared.mkdir()
            os.chown(shared, uid, uid)
            shared.chmod(loose)
            db = shared / "events.db"
            result = as_user(uid, functools.partial(store_some, db))
            whom = "its group" if loose == 0o770 else "others"
            assert result.startswith(f"UnsafePathError: {shared}: directory writable by {whom}"), result
            assert list(shared.iterdir()) == []


@BOTH
def test_a_parent_others_can_write_is_refused_unless_sticky(uid: int) -> None:
    """sshd's StrictModes walk: every directory above must be safe too (sticky /tmp-like ones are)."""
    with home_for(uid) as home:
        for loose, refused in ((0o777, True), (0o1777, False)):
            above = home / f"above-{loose:o}"
            mine = above / "mine"
            mine.mkdir(parents=True)
            os.chown(mine, uid, uid)
            above.chmod(loose)
            result = as_user(uid, functools.partial(store_some, mine / "events.db"))
            if refused:
                assert result.startswith(f"UnsafePathError: {above}: directory writable by others"), result
            else:
                assert result == len(events())


@BOTH
def test_a_store_directory_of_another_user_is_refused(uid: int) -> None:
    with home_for(uid) as home:
        theirs = home / "theirs"
        theirs.mkdir(mode=0o755)
        os.chown(theirs, STRANGER, STRANGER)
        result = as_user(uid, lambda: store_some(theirs / "events.db"))
        assert result == (
            f"UnsafePathError: {theirs}: directory owned by uid {STRANGER}, not by root or the running "
            "user; refused"
        )


@BOTH
def test_the_cli_says_why_in_one_line_with_exit_2(uid: int) -> None:
    with home_for(uid) as home:
        db = home / "events.db"
        db.touch(mode=0o666)
        os.chown(db, uid, uid)
        db.chmod(0o666)
        log = readable_copy(LOG, home, uid)

        def run_import() -> tuple[int, str, str]:
            result = run_cli(["import", "--db", str(db), str(log)])
            return result.exit_code, result.stdout, result.stderr

        code, out, err = as_user(uid, run_import)
        assert (code, out) == (2, "")
        assert err == f"exectrail: {db}: writable by group or others (mode 0666); refused " + (
            "(chmod 600 it if it is really yours)\n"
        )
        db.chmod(0o600)
        code, out, err = as_user(uid, run_import)
        assert code == 0 and "Traceback" not in err, err


@BOTH
def test_a_store_in_another_users_directory_is_read_without_creating_anything(uid: int) -> None:
    """A reader (search, verify…) in a directory its owner can write would let SQLite make -shm there
    (root following that user's link): the store is read as it is, or refused if a -wal holds more."""
    with home_for(uid) as home:
        theirs = home / "theirs"
        theirs.mkdir(mode=0o755)
        os.chown(theirs, uid, uid)
        db = theirs / "events.db"
        stored = as_user(uid, lambda: store_some(db))  # made by this user, then handed over to another
        for suffix in ("-wal", "-shm"):  # as a cleanly closed store leaves it
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        for path in (theirs, db):
            os.chown(path, STRANGER, STRANGER)
        db.chmod(0o644)

        def count() -> tuple[int, list[str]]:
            with EventStore(db, readonly=True) as store:
                return store.count(), sorted(p.name for p in theirs.iterdir())

        assert as_user(uid, count) == (stored, ["events.db"])
        with sqlite3.connect(db) as writer:  # the owner is writing: changes wait in the -wal
            writer.execute("PRAGMA wal_autocheckpoint = 0")
            writer.execute("PRAGMA user_version = 7")
            assert Path(f"{db}-wal").stat().st_size > 0
            result = as_user(uid, count)
        assert result == (
            f"UnsafePathError: {theirs}: directory owned by uid {STRANGER}, not by root or the running user; "
            "reading a store with pending changes (-wal) there would let SQLite create files in it: copy the "
            "store and its -wal to a private directory first"
        )


@BOTH
def test_an_old_store_in_another_users_directory_is_read_without_migrating(uid: int) -> None:
    """A schema-2 store cannot be migrated where SQLite must not write: it is read as it is, and
    every query gives what the same store gives once migrated."""
    old = DATA / "store_schema2.sqlite"
    with home_for(uid) as home:
        theirs, mine = home / "theirs", home / "mine"
        for directory, owner in ((theirs, STRANGER), (mine, uid)):
            directory.mkdir(mode=0o755)
            (directory / "events.db").write_bytes(old.read_bytes())
            (directory / "events.db").chmod(0o644)
            for path in (directory, directory / "events.db"):
                os.chown(path, owner, owner)

        def query(db: Path) -> list[tuple[int, str]]:
            out = []
            for args in (["search", "--format", "jsonl"], ["verify"], ["alarms", "--format", "jsonl"]):
                result = run_cli([*args, "--db", str(db)])
                out.append((result.exit_code, result.stdout))
            return out

        migrated = as_user(uid, lambda: query(mine / "events.db"))
        assert migrated[0][0] == 0 and migrated[0][1].count("\n") > 10, migrated
        assert as_user(uid, lambda: query(theirs / "events.db")) == migrated
        assert sorted(p.name for p in theirs.iterdir()) == ["events.db"], "nothing written there"
        assert (theirs / "events.db").read_bytes() == old.read_bytes()
