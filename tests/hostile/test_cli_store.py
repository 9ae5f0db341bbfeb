"""A store edited by hand (someone with write access to the database) is input like any other: the
commands that read it say what is wrong, or leave the damaged rows out, never exit 70."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.cli import run_cli
from tests.support.cli_logs import write_hostile_log

EDITS = {
    "time is text": "UPDATE events SET time_ms = 'abc' WHERE seq = 1",
    "time past year 9999": "UPDATE events SET time_ms = 9223372036854775807 WHERE seq = 1",
    "time before year 1": "UPDATE events SET time_ms = -99999999999999 WHERE seq = 1",
    "time is a huge real": "UPDATE events SET time_ms = 1.5e300 WHERE seq = 1",
    "exe is a number": "UPDATE events SET exe = 123 WHERE seq = 1",
    "exe is a blob": "UPDATE events SET exe = x'ff00fe' WHERE seq = 1",
    "argv is text": "UPDATE events SET argv = 'notblob' WHERE seq = 1",
    "argv is a number": "UPDATE events SET argv = 5 WHERE seq = 1",
    "pid is text": "UPDATE events SET pid = 'x' WHERE seq = 1",
    "pid is huge": "UPDATE events SET pid = 9223372036854775807 WHERE seq = 1",
    "arch is a blob": "UPDATE events SET arch = x'ff' WHERE seq = 1",
    "alarm details are not JSON": "UPDATE alarms SET details = 'not json' WHERE seq = 1",
    "alarm evidence is cut": "UPDATE alarms SET evidence = '{' WHERE seq = 1",
    "alarm time is text": "UPDATE alarms SET time_ms = 'x' WHERE seq = 1",
}
COMMANDS = {
    "search": ["search", "--format", "jsonl"],
    "search-table": ["search", "--format", "table"],
    "tree": ["tree", "4000", "--format", "jsonl"],
    "timeline": ["timeline", "--session", "unset", "--format", "csv"],
    "sessions": ["timeline", "--format", "jsonl"],
    "report": ["report", "--format", "jsonl"],
    "report-table": ["report", "--format", "table"],
    "report-html": ["report", "--html", "CASE.html"],
    "alarms": ["alarms", "--format", "jsonl"],
    "check-procs": ["check-procs", "--format", "jsonl"],
    "verify": ["verify"],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("edited")
    db = base / "events.db"
    result = run_cli(["import", "--db", str(db), str(write_hostile_log(base / "audit.log", 3))])
    assert result.exit_code == 0, result.stderr
    return db


def edited(store: Path, tmp_path: Path, sql: str) -> Path:
    copy = tmp_path / "edited.db"
    shutil.copy(store, copy)
    copy.chmod(0o600)
    with sqlite3.connect(copy) as conn:
        conn.execute(sql)
    conn.close()
    return copy


def invoke(args: list[str], db: Path) -> Result:
    return run_cli([*args, "--db", str(db)], env={"EXECTRAIL_DB": "", "COLUMNS": "120"})


@pytest.mark.parametrize("edit", EDITS)
def test_no_query_of_an_edited_store_is_an_internal_error(store: Path, tmp_path: Path, edit: str) -> None:
    db = edited(store, tmp_path, EDITS[edit])
    for name, args in COMMANDS.items():
        result = invoke([str(tmp_path / a) if a == "CASE.html" else a for a in args], db)
        assert result.exit_code in (0, 1, 2, 3), (name, result.exit_code, result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr, (
            name,
            result.stderr,
        )


@pytest.mark.parametrize(
    "edit", ["time is text", "time past year 9999", "pid is text", "time is a huge real"]
)
def test_check_procs_leaves_damaged_rows_out_and_says_so(store: Path, tmp_path: Path, edit: str) -> None:
    result = invoke(COMMANDS["check-procs"], edited(store, tmp_path, EDITS[edit]))
    assert result.exit_code in (0, 3), result.stderr
    assert "1 stored events cannot be read (edited by hand?) and were left out" in result.stderr
    assert "(2 exec events from" in result.stderr  # the 3 successful execs but the damaged one
