"""The hash chain: what it covers, that it is stable, and property tests of tampering."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.model import ExecEvent
from exectrail.store import EventStore, codec
from exectrail.store.chain import GENESIS, digest, format_head, link, parse_head
from exectrail.store.verify import verify
from tests.support.strategies import distinct, exec_events

EVENTS = st.lists(exec_events(), min_size=1, max_size=12).map(distinct)
PROPERTY = settings(
    max_examples=int(os.environ.get("EXECTRAIL_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _store(path: Path, events: list[ExecEvent], batch: int = 5) -> None:
    with EventStore(path) as store, store.writer(batch_size=batch) as writer:
        for event in events:
            assert writer.add(event)


def _rows(path: Path) -> list[tuple[int, bytes, bytes]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT seq, digest, chain FROM events ORDER BY seq").fetchall()


def test_digest_is_stable() -> None:
    """The canonical form is a format: changing it would make every existing store look edited."""
    row = (1764081647506, 42, None, "x86_64", "execve", 1, 0, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, None, None,
           None, "ls", "/usr/bin/ls", "/root", b"/tmp/\xff", 2, b"ls\0-l\0", "procmon", "ls -l",
           0, None, "", *[None] * 17)  # fmt: skip
    assert codec.COLUMNS[23] == "path" and len(row) == len(codec.COLUMNS)
    assert codec.COLUMNS[28:31] == ("incomplete", "script", "fileless") and codec.COLUMNS[-1] == "env_missing"
    row, context = row[:31], row[31:]
    # what a schema-5 row adds holds what its migration gave older rows (NULL): left out, as are
    # incomplete=0, script NULL and fileless '': the digest of schema 2, before they existed
    assert digest((*row, *context)) == digest(row)
    assert digest(row).hex() == "7edcbfa04b301cdb48d7590ed403cebfb531eba78d2b437694e3d888fe570998"
    # the documented form, built independently of orjson
    plain = [{"hex": v.hex()} if isinstance(v, bytes) else v for v in row[:-3]]

    def documented(values: Sequence[object]) -> bytes:
        text = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
        return hashlib.sha256(b"exectrail-event-v1\n" + text).digest()

    assert digest(row) == documented(plain)
    incomplete = (*row[:-3], 1, None, "")
    assert digest(incomplete) == documented([*plain, 1])
    assert digest(incomplete).hex() == "1ad4240494bdacd394e44b083f02347725c1b38f51b9eef68d9929706501ef29"
    # from the first added column that holds more than its migration's value on, every one is covered
    assert digest((*row[:-3], 0, "/tmp/x.sh", "")) == documented([*plain, 0, "/tmp/x.sh"])
    assert digest((*row[:-3], 0, None, "fd")) == documented([*plain, 0, None, "fd"])
    assert digest((*row[:-3], 1, "/tmp/x.sh", "memfd,fd")) == documented([*plain, 1, "/tmp/x.sh", "memfd,fd"])
    # an empty script is not a missing one
    assert digest((*row[:-3], 0, "", "")) == documented([*plain, 0, ""]) != digest(row)


@PROPERTY
@given(event=exec_events())
def test_every_stored_value_counts_in_the_digest(event: ExecEvent) -> None:
    row = codec.event_to_row(event)
    for changed in (
        replace(event, script=(event.script or "") + "x"),
        replace(event, fileless=() if event.fileless else ("fd",)),
        replace(event, incomplete=not event.incomplete),
    ):
        assert digest(codec.event_to_row(changed)) != digest(row)


def test_head_format_round_trips() -> None:
    value = link(GENESIS, b"x" * 32)
    assert parse_head(format_head(7, value)) == (7, value)


@PROPERTY
@given(events=EVENTS)
def test_chain_links_every_stored_row_in_insertion_order(
    tmp_path_factory: pytest.TempPathFactory, events: list[ExecEvent]
) -> None:
    path = tmp_path_factory.mktemp("chain") / "e.db"
    _store(path, events)
    chain = GENESIS
    for i, (seq, row_digest, value) in enumerate(_rows(path), start=1):
        assert seq == i
        assert row_digest == digest(codec.event_to_row(events[i - 1]))
        chain = link(chain, row_digest)
        assert value == chain
    with EventStore(path, readonly=True) as store:
        result = verify(store.conn)
        assert result.ok and result.rows == len(events)
        assert result.head == store.head() == format_head(len(events), chain)


@PROPERTY
@given(events=st.lists(exec_events(), min_size=2, max_size=10).map(distinct), data=st.data())
def test_any_single_tampering_is_named(
    tmp_path_factory: pytest.TempPathFactory, events: list[ExecEvent], data: st.DataObject
) -> None:
    if len(events) < 2:
        return
    path = tmp_path_factory.mktemp("tamper") / "e.db"
    _store(path, events)
    n = len(events)
    k = data.draw(st.integers(1, n), label="row")
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "append", "insert"]), label="kind")
    conn = sqlite3.connect(path)
    if kind == "edit":
        column = data.draw(
            st.sampled_from([c for c in codec.COLUMNS if c not in ("time_ms", "serial", "node")])
        )
        changed = (
            f"CASE WHEN {column} IS NULL THEN 1 WHEN typeof({column}) = 'integer' THEN {column} + 1 "
            f"ELSE {column} || 'x' END"
        )
        conn.execute(f"UPDATE events SET {column} = {changed} WHERE seq = ?", (k,))
        expected: tuple[str, int] | None = ("edited", k)
    elif kind == "delete":
        conn.execute("DELETE FROM events WHERE seq = ?", (k,))
        expected = ("deleted", k + 1) if k < n else None  # the last row: only a noted head tells
    elif kind == "swap":
        j = data.draw(st.integers(1, n).filter(lambda j: j != k), label="other")
        a, b = sorted((k, j))
        conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (a,))
        conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (a, b))
        conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (b,))
        expected = ("reordered", a)
    else:
        taken = {e.event_id for e in events}
        forged = data.draw(exec_events().filter(lambda e: e.event_id not in taken), label="forged")
        row = codec.event_to_row(forged)
        where = n + 1 if kind == "append" else k
        if kind == "insert":  # make room: renumber the rows from k on
            conn.execute("UPDATE events SET seq = -seq - 1 WHERE seq >= ?", (k,))
            conn.execute("UPDATE events SET seq = -seq WHERE seq < 0")
        cols = ", ".join(codec.COLUMNS)
        conn.execute(
            f"INSERT INTO events (seq, {cols}, digest, chain) VALUES ({', '.join('?' * (len(row) + 3))})",
            (where, *row, digest(row), link(GENESIS, b"forged")),
        )
        expected = ("inserted", where)
    conn.commit()
    conn.close()
    with EventStore(path, readonly=True) as store:
        result = verify(store.conn)
    if expected is None:
        assert result.ok
        return
    assert result.problem is not None, kind
    assert (result.problem.kind, result.problem.seq) == expected, result.problem
