"""Tampering with a store of real events: ``exectrail verify`` names the first bad row and what."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from exectrail.model import ExecEvent
from exectrail.store import EventStore, codec
from exectrail.store.chain import GENESIS, digest, link
from exectrail.store.searchindex import row_search_text
from tests.support.cli import run
from tests.support.paths import DATA

K = 57  # the row we tamper with


def _sql(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(db) as conn:
        for sql, params in statements:
            conn.execute(sql, params)


def _verify(db: Path, *extra: str) -> tuple[int, str]:
    result = run("verify", "--db", str(db), *extra)
    return result.exit_code, result.stdout.strip()


def test_intact_store_verifies(filled: Path, real_events: list[ExecEvent]) -> None:
    code, out = _verify(filled)
    assert code == 0
    n = len(real_events)
    assert out.startswith(f"intact: {n} events, 0 alarms, search index matches; head events={n}:")


def test_edited_argv(filled: Path) -> None:
    _sql(filled, ("UPDATE events SET argv = ? WHERE seq = ?", (codec.pack_argv((b"/bin/true",)), K)))
    assert _verify(filled) == (
        1,
        f"edited: row {K}: row {K} was edited: its content does not match its digest",
    )


def test_edited_time_by_one_millisecond(filled: Path) -> None:
    _sql(filled, ("UPDATE events SET time_ms = time_ms + 1 WHERE seq = ?", (K,)))
    code, out = _verify(filled)
    assert code == 1 and out.startswith(f"edited: row {K}:")


def test_deleted_row(filled: Path) -> None:
    _sql(filled, ("DELETE FROM events WHERE seq = ?", (K,)))
    assert _verify(filled) == (1, f"deleted: row {K + 1}: row {K} missing before row {K + 1}")


def test_deleted_rows_and_renumbered(filled: Path) -> None:
    """Hiding the gap by renumbering does not help: the chain does not link."""
    _sql(
        filled,
        ("DELETE FROM events WHERE seq IN (?, ?)", (K, K + 1)),
        ("UPDATE events SET seq = -(seq - 2) WHERE seq > ?", (K + 1,)),
        ("UPDATE events SET seq = -seq WHERE seq < 0", ()),
    )
    code, out = _verify(filled)
    assert code == 1 and out.startswith(f"deleted: row {K}: row {K} does not follow row {K - 1}")


def test_inserted_row_in_the_middle(filled: Path, real_events: list[ExecEvent]) -> None:
    forged = codec.event_to_row(real_events[3])
    forged = (forged[0] + 5, forged[1] + 10**6, *forged[2:])  # a new identity, looks plausible
    cols = ", ".join(codec.COLUMNS)
    _sql(
        filled,
        ("UPDATE events SET seq = -seq - 1 WHERE seq >= ?", (K,)),
        ("UPDATE events SET seq = -seq WHERE seq < 0", ()),
        (f"INSERT INTO events (seq, {cols}, digest, chain) VALUES ({', '.join('?' * (len(forged) + 3))})",
         (K, *forged, digest(forged), link(b"\x01" * 32, digest(forged)))),
    )  # fmt: skip
    assert _verify(filled) == (1, f"inserted: row {K}: row {K} was inserted: row {K + 1} follows row {K - 1}")


def test_appended_row(filled: Path, real_events: list[ExecEvent]) -> None:
    n = len(real_events)
    row = codec.event_to_row(real_events[0])
    row = (row[0] + 10**9, *row[1:])
    cols = ", ".join(codec.COLUMNS)
    marks = ", ".join("?" * (len(row) + 3))
    _sql(
        filled,
        (
            f"INSERT INTO events (seq, {cols}, digest, chain) VALUES ({marks})",
            (n + 1, *row, digest(row), GENESIS),
        ),
    )
    code, out = _verify(filled)
    assert code == 1 and out.startswith(f"inserted: row {n + 1}:")


@pytest.mark.parametrize("other", [K + 1, K + 20])
def test_swapped_rows(filled: Path, other: int) -> None:
    _sql(
        filled,
        ("UPDATE events SET seq = -1 WHERE seq = ?", (K,)),
        ("UPDATE events SET seq = ? WHERE seq = ?", (K, other)),
        ("UPDATE events SET seq = ? WHERE seq = -1", (other,)),
    )
    code, out = _verify(filled)
    predecessor = other if other == K + 1 else other - 1  # where the row written before it is now
    assert code == 1 and out == f"reordered: row {K}: row {K} was written right after row {predecessor}"


def test_chain_value_overwritten(filled: Path) -> None:
    _sql(filled, ("UPDATE events SET chain = ? WHERE seq = ?", (b"\x07" * 32, K)))
    assert _verify(filled) == (
        1,
        f"edited: row {K}: row {K}: digest and chain values do not fit its neighbours",
    )


def test_swapped_contents_keeping_hashes(filled: Path) -> None:
    """Moving the event data between rows but leaving digest/chain in place."""
    data = ", ".join(codec.COLUMNS)
    with sqlite3.connect(filled) as conn:
        a = conn.execute(f"SELECT {data} FROM events WHERE seq = ?", (K,)).fetchone()
        b = conn.execute(f"SELECT {data} FROM events WHERE seq = ?", (K + 3,)).fetchone()
        conn.execute("DROP INDEX events_identity")  # the attacker is free to do anything
        sets = ", ".join(f"{c} = ?" for c in codec.COLUMNS)
        conn.execute(f"UPDATE events SET {sets} WHERE seq = ?", (*b, K))
        conn.execute(f"UPDATE events SET {sets} WHERE seq = ?", (*a, K + 3))
    code, out = _verify(filled)
    assert code == 1 and out == f"reordered: row {K}: row {K} holds the event written as row {K + 3}"


def test_rechained_store_is_caught_only_by_a_noted_head(filled: Path, real_events: list[ExecEvent]) -> None:
    """An attacker who edits a row and recomputes every digest and chain value after it passes a
    plain verify; the head noted before catches it."""
    noted = run("verify", "--db", str(filled), "--head").stdout.strip()
    assert re.fullmatch(f"events={len(real_events)}:[0-9a-f]{{64}}", noted), noted
    with sqlite3.connect(filled) as conn:
        _reindex(conn, K, "innocent")
        conn.execute("UPDATE events SET argv = ? WHERE seq = ?", (codec.pack_argv((b"innocent",)), K))
        cols = ", ".join(codec.COLUMNS)
        prev = conn.execute("SELECT chain FROM events WHERE seq = ?", (K - 1,)).fetchone()[0]
        for seq, *row in conn.execute(
            f"SELECT seq, {cols} FROM events WHERE seq >= ? ORDER BY seq", (K,)
        ).fetchall():
            row_digest = digest(tuple(row))
            prev = link(prev, row_digest)
            conn.execute("UPDATE events SET digest = ?, chain = ? WHERE seq = ?", (row_digest, prev, seq))
    assert _verify(filled)[0] == 0
    code, out = _verify(filled, "--expect", noted)
    assert code == 1
    n = len(real_events)
    assert out == f"mismatch: row {n}: row {n} does not carry the noted head: " + CHANGED


CHANGED = "rows up to it were changed and re-chained"


def _reindex(conn: sqlite3.Connection, seq: int, text: str | None) -> None:
    """What a careful attacker does to the search index too: row ``seq`` indexed as ``text``."""
    old = row_search_text(*conn.execute("SELECT argv, path FROM events WHERE seq = ?", (seq,)).fetchone())
    conn.execute("INSERT INTO events_fts (events_fts, rowid, cmdline) VALUES ('delete', ?, ?)", (seq, old))
    if text is not None:
        conn.execute("INSERT INTO events_fts (rowid, cmdline) VALUES (?, ?)", (seq, text))


def test_rows_removed_from_the_end_leave_the_index_behind(filled: Path, real_events: list[ExecEvent]) -> None:
    """Without a noted head, rows deleted from the end are still seen: their words stay indexed."""
    n = len(real_events)
    _sql(filled, ("DELETE FROM events WHERE seq > ?", (n - 5,)))
    code, out = _verify(filled)
    assert code == 1 and out.startswith(
        f"edited: search index: search --text finds words a row does not hold: row {n - 4} ("
    )


def test_noted_head_survives_later_imports(filled: Path) -> None:
    noted = run("verify", "--db", str(filled), "--head").stdout.strip()
    data = DATA
    assert run("import", "--db", str(filled), str(data / "workload_enriched.log")).exit_code == 0
    code, out = _verify(filled, "--expect", noted)
    seq = noted.removeprefix("events=").split(":")[0]
    assert code == 0 and out.endswith(f"row {seq} carries the noted head"), out


def test_truncated_store_is_caught_by_a_noted_head(filled: Path, real_events: list[ExecEvent]) -> None:
    noted = run("verify", "--db", str(filled), "--head").stdout.strip()
    with sqlite3.connect(filled) as conn:
        for seq in range(len(real_events) - 4, len(real_events) + 1):
            _reindex(conn, seq, None)
        conn.execute("DELETE FROM events WHERE seq > ?", (len(real_events) - 5,))
    assert _verify(filled)[0] == 0
    code, out = _verify(filled, "--expect", noted)
    assert code == 1 and out.startswith(f"deleted: row {len(real_events)}:")


def test_text_that_is_not_utf8_is_an_edit_not_a_crash(filled: Path) -> None:
    _sql(filled, ("UPDATE events SET comm = CAST(? AS TEXT) WHERE seq = ?", (b"\xffsh", K)))
    code, out = _verify(filled)
    assert code == 1 and out.startswith(f"edited: row {K}:")
    result = run("search", "--db", str(filled), "--format", "jsonl", "--comm", "*sh")
    assert result.exit_code == 0


def test_bad_expect_value_is_a_usage_error(filled: Path) -> None:
    result = run("verify", "--db", str(filled), "--expect", "12:abc")
    assert result.exit_code == 2 and "not a chain head" in result.stderr


def test_empty_store(db: Path) -> None:
    EventStore(db).close()
    assert _verify(db) == (0, "intact: 0 events, 0 alarms, search index matches; head none (empty store)")
    assert run("verify", "--db", str(db), "--head").stdout.strip() == "empty"
