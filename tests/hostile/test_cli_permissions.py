"""A permission error names the path and exits 2 (one line), as an unprivileged user.

The commands run in a forked child that dropped to ``nobody`` (tests/hostile/rootsafe_users.py):
a root-only log, a store in a directory nobody cannot write, a root-only store, an ``--output``
(watch's plugin file) that cannot be created, a spool nobody cannot write.
"""

from __future__ import annotations

import multiprocessing.connection  # imported before the child drops root (/root is 0700)
import multiprocessing.popen_fork  # noqa: F401
import os
from collections.abc import Iterator

import pytest

from tests.support.cli import run_cli
from tests.support.cli_logs import write_hostile_log
from tests.support.rootsafe_users import NOBODY, as_user, home_for, home_of


def run_as_nobody(*args: str) -> tuple[int, str]:
    def invoke() -> tuple[int, str]:
        result = run_cli(list(args), env={"EXECTRAIL_DB": ""}, input=b"")
        return result.exit_code, result.stderr

    outcome: tuple[int, str] = as_user(NOBODY, invoke)
    return outcome


@pytest.fixture
def place() -> Iterator[dict[str, str]]:
    """Root's files (in /tmp, where nobody can look): a 0600 log, a 0755 directory nobody cannot
    write, a 0600 store; and nobody's own home with a log it may read."""
    with home_for(NOBODY) as home, home_of(0) as base:
        base.chmod(0o755)
        private = base / "root-only"
        private.mkdir(mode=0o755)
        log = write_hostile_log(private / "audit.log")
        log.chmod(0o600)
        db = private / "events.db"
        assert run_cli(["import", "--no-alarms", "--db", str(db), str(log)]).exit_code == 0
        readable_log = home / "audit.log"
        readable_log.write_bytes(log.read_bytes())
        os.chown(readable_log, NOBODY, NOBODY)
        yield {
            "home": str(home),
            "dir": str(private),
            "log": str(log),
            "db": str(db),
            "mine": str(readable_log),
        }


def assert_names_the_path(outcome: tuple[int, str], path: str) -> None:
    code, err = outcome
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("exectrail: ") and path in lines[0], err
    assert "internal error" not in err and "Traceback" not in err
    assert (
        "denied" in lines[0].lower() or "not readable" in lines[0].lower() or "permission" in lines[0].lower()
    )


@pytest.mark.parametrize("command", ["review", "alarms", "check-procs", "import"])
def test_an_unreadable_log(place: dict[str, str], command: str) -> None:
    extra = ["--db", f"{place['home']}/e.db"] if command == "import" else []
    assert_names_the_path(run_as_nobody(command, *extra, place["log"]), place["log"])


def test_a_store_in_a_directory_nobody_cannot_write(place: dict[str, str]) -> None:
    db = f"{place['dir']}/new.db"
    assert_names_the_path(run_as_nobody("import", "--no-alarms", "--db", db, place["mine"]), db)


@pytest.mark.parametrize("command", ["search", "report", "timeline", "verify", "alarms", "check-procs"])
def test_a_store_nobody_cannot_read(place: dict[str, str], command: str) -> None:
    assert_names_the_path(run_as_nobody(command, "--db", place["db"]), place["db"])


def test_an_output_that_cannot_be_created(place: dict[str, str]) -> None:
    output = f"{place['dir']}/exec.jsonl"
    outcome = run_as_nobody("watch", "--mode", "plugin", "--no-store", "--output", output)
    assert_names_the_path(outcome, output)


def test_a_spool_that_cannot_be_written(place: dict[str, str]) -> None:
    spool = f"{place['dir']}/spool"
    sink = f"jsonl://{place['home']}/out.jsonl"
    outcome = run_as_nobody("review", "--sink", sink, "--spool", spool, place["mine"])
    assert_names_the_path(outcome, spool)
