"""A store edited by hand (wrong types, out-of-range values) makes queries stop with one line, never exit 70.

exectrail never writes such rows, so they are evidence of tampering or damage: a value no event can
hold (a time out of range, a number column holding text, a real or bytes, argv not a blob) ends the
query with exit 2 and ``exectrail: …`` pointing at ``verify`` (which names the row); a text column
holding a number (``exe = 123``) is shown as stored.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.paths import DATA

FIXTURE = DATA / "store_schema2.sqlite"
EDITS = {
    "time_text": "time_ms = 'abc'",
    "time_huge": "time_ms = 9223372036854775807",
    "time_negative": "time_ms = -99999999999999",
    "time_real": "time_ms = 1.5e300",
    "argv_text": "argv = 'not a blob'",
    "argv_int": "argv = 5",
    "arch_blob": "arch = x'ff'",
    "exe_int": "exe = 123",
    "exe_bad_text": "exe = CAST(x'2fff' AS TEXT)",
    "uid_real": "uid = 1.5",
    "exit_text": "exit = 'zz'",
    "euid_blob": "euid = x'ff00'",
    "suid_bad_text": "suid = CAST(x'ff' AS TEXT)",
    "serial_text": "serial = 'zz'",
    # the context objects (schema 5) hold the JSON text of an object, nothing else
    "parent_not_json": "parent = '{not json'",
    "parent_array": "parent = '[1, 2]'",
    "hash_number": "exe_hash = 5",
    "env_blob": "env = x'7b7d'",
}
QUERIES = (
    ["search", "--format", "jsonl"],
    ["search", "--format", "table"],
    ["report", "--format", "jsonl"],
    ["report", "--format", "table"],
    ["report", "--html", "CASE.html"],
    ["timeline", "--format", "csv"],
    ["tree", "8108", "--format", "jsonl"],
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("edited") / "base.db"
    shutil.copyfile(FIXTURE, db)
    db.chmod(0o600)
    result = run_cli(["verify", "--db", str(db)])  # migrates it once
    assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_store_is_one_line_not_an_internal_error(store: Path, tmp_path: Path, edit: str) -> None:
    db = tmp_path / "edited.db"
    shutil.copyfile(store, db)
    with sqlite3.connect(db) as conn:  # the row of pid 8108 (seq 1), which every query reads
        assert conn.execute("SELECT pid FROM events WHERE seq = 1").fetchone() == (8108,)
        conn.execute(f"UPDATE events SET {EDITS[edit]} WHERE seq = 1")
    codes = set()
    for query in QUERIES:
        query = [str(tmp_path / a) if a == "CASE.html" else a for a in query]
        result = run_cli([*query, "--db", str(db)])
        assert result.exit_code in (0, 2), (query, result.exit_code, result.output)
        if result.exit_code == 2:
            [line] = [x for x in result.output.splitlines() if x.startswith("exectrail:")]
            assert "edited or damaged" in line and "Error" not in line, (query, line)
        codes.add(result.exit_code)
    # a value no event can hold is noticed by the full listing; a number in a text column is shown
    assert (2 in codes) == (not edit.startswith("exe_")), codes
