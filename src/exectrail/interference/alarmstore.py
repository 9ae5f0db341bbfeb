"""Alarms in the store (the ``alarms`` table of schema version 2) and in forwarded messages.

Each stored alarm carries, like an event, a ``digest`` (SHA-256 of ``exectrail-alarm-v1\\n`` and the
compact JSON array ``[identity, kind, time_ms, certainty, host, summary, details, evidence]``) and a
``chain`` value (SHA-256 of the previous alarm's chain and this digest; the first follows 32 zero
bytes), so deleting or editing a stored alarm is found by :func:`verify_alarms`. The alarms chain
is separate from the events chain: alarms found after the fact (``import`` of an old log) can be
added without touching the events.

``identity`` (kind, host, time, first evidence line) makes re-importing the same logs add nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exectrail.model import Alarm
from exectrail.output.fields import alarm_to_dict
from exectrail.store import EventStore
from exectrail.store.chain import GENESIS, link
from exectrail.store.db import StoreError, sqlite_errors

PREFIX = b"exectrail-alarm-v1\n"
_COLUMNS = ("identity", "kind", "time_ms", "certainty", "host", "summary", "details", "evidence")
_PROBE = "SELECT 1 FROM alarms WHERE identity = ?"
_INSERT = f"INSERT INTO alarms (seq, {', '.join(_COLUMNS)}, digest, chain) VALUES ({', '.join('?' * 11)})"


def time_ms(alarm: Alarm) -> int:
    return int(alarm.time.timestamp() * 1000)


def alarm_identity(alarm: Alarm) -> str:
    """A stable id: ``alarm:KIND:HOST:TIME_MS:HASH`` (hash of the first evidence line, or the summary)."""
    basis = alarm.evidence[0] if alarm.evidence else alarm.summary
    digest = hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"alarm:{alarm.kind}:{alarm.host or ''}:{time_ms(alarm)}:{digest}"


def alarm_message_body(alarm: Alarm, host: str | None = None) -> dict[str, Any]:
    """The forwarded form of an alarm (for ``SinkSet.submit_message``): the JSON plus ``id``/``host``."""
    body = alarm_to_dict(alarm)
    body["id"] = alarm_identity(alarm)
    if alarm.host is None and host is not None:
        body["host"] = host
    return body


def _row(alarm: Alarm) -> tuple[Any, ...]:
    as_json = alarm_to_dict(alarm)
    return (
        alarm_identity(alarm),
        alarm.kind,
        time_ms(alarm),
        alarm.certainty,
        alarm.host,
        alarm.summary,
        orjson.dumps(as_json["details"], option=orjson.OPT_SORT_KEYS).decode(),
        orjson.dumps(as_json["evidence"]).decode(),
    )


def _digest(row: tuple[Any, ...]) -> bytes:
    return hashlib.sha256(PREFIX + orjson.dumps(list(row))).digest()


def store_alarms(store: EventStore, alarms: Iterable[Alarm]) -> int:
    """Add the alarms not stored yet, in one transaction; return how many were added."""
    rows = [_row(a) for a in alarms]
    if not rows:
        return 0
    conn = store.conn
    with sqlite_errors(store.path):
        conn.execute("BEGIN IMMEDIATE")
        try:
            head = conn.execute("SELECT seq, chain FROM alarms ORDER BY seq DESC LIMIT 1").fetchone()
            seq, chain = (0, GENESIS) if head is None else head
            known: set[str] = set()
            added = 0
            for row in rows:
                if row[0] in known or conn.execute(_PROBE, (row[0],)).fetchone() is not None:
                    continue
                known.add(row[0])
                seq += 1
                row_digest = _digest(row)
                chain = link(chain, row_digest)
                conn.execute(_INSERT, (seq, *row, row_digest, chain))
                added += 1
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return added


def _alarm(row: sqlite3.Row | tuple[Any, ...]) -> Alarm:
    _identity, kind, ms, certainty, host, summary, details, evidence = row[:8]
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return Alarm(kind, when, summary, certainty, host, orjson.loads(details), tuple(orjson.loads(evidence)))


def read_alarms(path: str | Path) -> list[Alarm]:
    """Every alarm kept in the store at ``path``, oldest first."""
    with EventStore(path, readonly=True) as store, sqlite_errors(store.path):
        rows = store.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM alarms ORDER BY time_ms, seq"
        ).fetchall()
    return [_alarm(row) for row in rows]


def verify_alarms(store: EventStore) -> list[str]:
    """Problems in the alarms chain (empty when every stored alarm is the one written, in order)."""
    problems: list[str] = []
    chain, expected_seq = GENESIS, 1
    with sqlite_errors(store.path):
        rows = store.conn.execute(
            f"SELECT seq, {', '.join(_COLUMNS)}, digest, chain FROM alarms ORDER BY seq"
        )
        for seq, *rest in rows:
            row, row_digest, row_chain = tuple(rest[:8]), rest[8], rest[9]
            if seq != expected_seq:
                problems.append(f"alarm {expected_seq}: missing (next is {seq})")
            if _digest(row) != row_digest:
                problems.append(f"alarm {seq}: content edited")
            chain = link(chain, row_digest)
            if chain != row_chain:
                problems.append(f"alarm {seq}: chain broken (deleted, inserted or reordered before it)")
                chain = row_chain
            expected_seq = seq + 1
    return problems


__all__ = [
    "StoreError",
    "alarm_identity",
    "alarm_message_body",
    "read_alarms",
    "store_alarms",
    "verify_alarms",
]
