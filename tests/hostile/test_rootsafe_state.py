"""The watch journal (/run/exectrail) and the plugin's output file, as root and as nobody: private,
never through a link, and a journal is only trusted from a directory nobody else can write (a
planted one would make ``status --repair`` delete real audit rules)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from exectrail.capture import journal as journal_mod
from exectrail.capture.run import ReopenableFile
from exectrail.safefs import open_append
from tests.support.kernel import EXECTRAIL, kernel  # noqa: F401 - the fixture, used by name
from tests.support.rootsafe_users import BOTH, STRANGER, as_user, home_for

GUARD: Any = SimpleNamespace(added=[b"\x01\x02"], status_set={"enabled": (0, 1)}, registered=None)
VICTIM = b"precious\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def write_journal() -> dict[str, int]:
    journal = journal_mod.JournalFile("daemon")
    journal.write(GUARD)
    journal.write(GUARD)  # replaced, not appended
    data = json.loads(journal.path.read_text())
    assert data["added_rules"] == ["0102"] and data["pid"] == os.getpid()
    return {"dir": mode(journal.path.parent), "file": mode(journal.path), "uid": journal.path.stat().st_uid}


@BOTH
def test_the_journal_is_private(uid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with home_for(uid) as home:
        monkeypatch.setenv("EXECTRAIL_STATE_DIR", str(home / "run" / "exectrail"))
        assert as_user(uid, write_journal) == {"dir": 0o700, "file": 0o600, "uid": uid}


@BOTH
def test_a_journal_directory_others_can_write_is_refused(uid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with home_for(uid) as home:
        state = home / "state"
        state.mkdir()
        os.chown(state, uid, uid)
        state.chmod(0o1777)
        monkeypatch.setenv("EXECTRAIL_STATE_DIR", str(state))
        planted = journal_mod.Journal(999_999_999, "daemon", 1.0, (b"\x01",), {}, False)
        (state / "watch.999999999.json").write_text(json.dumps(planted.to_json()))
        refused = f"UnsafePathError: {state}: directory writable by others (mode 1777); refused"
        assert as_user(uid, lambda: journal_mod.stale_journals()).startswith(refused)
        assert as_user(uid, write_journal).startswith(refused)
        state.chmod(0o700)  # private again: the journal (root's file) is trusted by root only
        result = as_user(uid, journal_mod.stale_journals)
        if uid == 0:
            assert result == [(state / "watch.999999999.json", planted)]
        else:
            path = state / "watch.999999999.json"
            assert result == f"UnsafePathError: {path}: owned by root, not by the running user; refused"


@BOTH
def test_journals_that_are_links_or_another_users_are_refused(
    uid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with home_for(uid) as home:
        state = home / "state"
        state.mkdir(mode=0o700)
        os.chown(state, uid, uid)
        monkeypatch.setenv("EXECTRAIL_STATE_DIR", str(state))
        good = journal_mod.Journal(999_999_998, "daemon", 1.0, (), {}, False)
        (home / "elsewhere.json").write_text(json.dumps(good.to_json()))
        link = state / "watch.999999998.json"
        link.symlink_to(home / "elsewhere.json")
        assert (
            as_user(uid, journal_mod.stale_journals)
            == f"UnsafePathError: {link}: is a symbolic link; refused"
        )
        link.unlink()
        link.write_text(json.dumps(good.to_json()))
        os.chown(link, STRANGER, STRANGER)
        assert as_user(uid, journal_mod.stale_journals) == (
            f"UnsafePathError: {link}: owned by uid {STRANGER}, not by the running user; refused"
        )


@BOTH
def test_the_plugin_output_is_private_and_never_written_through_a_link(uid: int) -> None:
    with home_for(uid) as home:
        output = home / "log" / "exectrail" / "exec.jsonl"

        def append_twice() -> tuple[int, int, bytes]:
            stream = ReopenableFile(str(output))
            stream.write(b"one\n")
            stream.reopen()  # as on SIGHUP after a rotation
            stream.write(b"two\n")
            stream.close()
            return mode(output), mode(output.parent), output.read_bytes()

        assert as_user(uid, append_twice) == (0o600, 0o700, b"one\ntwo\n")
        victim = home / "victim"
        victim.write_bytes(VICTIM)
        output.unlink()
        output.symlink_to(victim)
        assert as_user(uid, append_twice) == f"UnsafePathError: {output}: is a symbolic link; refused"
        output.unlink()
        output.write_bytes(b"")
        os.chown(output, STRANGER, STRANGER)
        result = as_user(uid, lambda: open_append(output))
        assert (
            result == f"UnsafePathError: {output}: owned by uid {STRANGER}, not by the running user; refused"
        )
        assert victim.read_bytes() == VICTIM


@BOTH
def test_output_to_a_pipe_or_dev_null_is_still_allowed(uid: int) -> None:
    """Only files can be overwritten through a link: a FIFO or /dev/null in a safe directory is fine."""
    with home_for(uid) as home:
        fifo = home / "events.fifo"
        os.mkfifo(fifo, 0o600)
        os.chown(fifo, uid, uid)

        def write_both() -> bytes:
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            with open_append(fifo) as out:
                out.write(b"through the pipe\n")
            with open_append("/dev/null") as out:
                out.write(b"gone\n")
            data = os.read(reader, 100)
            os.close(reader)
            return data

        assert as_user(uid, write_both) == b"through the pipe\n"
        link = home / "null-link"
        link.symlink_to("/dev/null")
        assert (
            as_user(uid, lambda: open_append(link)) == f"UnsafePathError: {link}: is a symbolic link; refused"
        )


@pytest.mark.usefixtures("kernel")
def test_watch_and_repair_refuse_a_journal_directory_others_can_write(tmp_path: Path) -> None:
    """A journal planted there would tell ``status --repair`` (and the next watch) which audit rules
    to delete: both refuse the directory before touching the kernel (the fixture checks it)."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o1777)
    planted = journal_mod.Journal(1, "daemon", 1.0, (b"\x01",), {"enabled": (1, 0)}, False)
    (state / "watch.1.json").write_text(json.dumps(planted.to_json()))
    env = {**os.environ, "EXECTRAIL_STATE_DIR": str(state), "EXECTRAIL_DB": str(tmp_path / "events.db")}
    refused = f"exectrail: {state}: directory writable by others (mode 1777); refused " + (
        "(use chmod go-w, or another directory)\n"
    )
    for args in (["watch", "--mode", "daemon", "--duration", "5"], ["status", "--repair"]):
        done = subprocess.run([*EXECTRAIL, *args], env=env, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr) == (2, refused), (args, done.stderr)
    assert (state / "watch.1.json").exists()
