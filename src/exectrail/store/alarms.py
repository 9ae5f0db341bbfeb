"""Alarms in the store (the ``alarms`` table of schema version 2) and in forwarded messages.

Each stored alarm carries, like an event, a ``digest`` (SHA-256 of ``exectrail-alarm-v1\\n`` and the
compact JSON array ``[identity, kind, time_ms, certainty, host, summary, details, evidence]``) and a
``chain`` value (SHA-256 of the previous alarm's chain and this digest; the first follows 32 zero
bytes): see :mod:`exectrail.store.chain`. Deleting or editing a stored alarm is found by
``exectrail verify`` (:func:`exectrail.store.verify.verify_alarm_chain`, the walker of the events
chain), and :func:`read_checked_alarms` says so too. The alarms chain is separate from the events
chain: alarms found after the fact (``import`` of an old log) can be added without touching the
events.

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

from exectrail.jsonform import alarm_to_dict, object_text
from exectrail.model import Alarm
from exectrail.store import EventStore
from exectrail.store.chain import ALARM_COLUMNS, GENESIS, alarm_digest, link
from exectrail.store.db import sqlite_errors
from exectrail.store.verify import verify_alarm_chain
from exectrail.timefmt import EPOCH

_PROBE = "SELECT 1 FROM alarms WHERE identity = ?"
_INSERT = (
    f"INSERT INTO alarms (seq, {', '.join(ALARM_COLUMNS)}, digest, chain) VALUES ({', '.join('?' * 11)})"
)


def _time_ms(alarm: Alarm) -> int:
    """The stored ``time_ms`` (part of the identity and the digest: it stays computed this way)."""
    return int(alarm.time.timestamp() * 1000)


def alarm_identity(alarm: Alarm) -> str:
    """A stable id: ``alarm:KIND:HOST:TIME_MS:HASH`` (hash of the first evidence line, or the summary)."""
    basis = alarm.evidence[0] if alarm.evidence else alarm.summary
    digest = hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    host = (alarm.host or "").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return f"alarm:{alarm.kind}:{host}:{_time_ms(alarm)}:{digest}"


def alarm_message_body(alarm: Alarm, host: str | None = None) -> dict[str, Any]:
    """The forwarded form of an alarm (for ``SinkSet.submit_message``): the JSON plus ``id``/``host``."""
    body = alarm_to_dict(alarm)
    body["id"] = alarm_identity(alarm)
    if alarm.host is None and host is not None:
        body["host"] = host
    return body


def _row(alarm: Alarm) -> tuple[Any, ...]:
    as_json = alarm_to_dict(alarm)  # text that is not UTF-8: U+FFFD plus *_hex companions (lossless)
    companions = ("host_hex", "summary_hex", "evidence_hex")
    extras: dict[str, Any] = {k: as_json[k] for k in companions if k in as_json}
    evidence: Any = as_json["evidence"]
    if extras:
        evidence = {"evidence": evidence, **extras}
    return (
        alarm_identity(alarm),
        alarm.kind,
        _time_ms(alarm),
        alarm.certainty,
        as_json["host"],
        as_json["summary"],
        object_text(as_json["details"]),
        orjson.dumps(evidence).decode(),
    )


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
                row_digest = alarm_digest(row)
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
    """An alarm from its stored row; an edited row (text that is not JSON, a time out of range) is
    shown as well as it can be -- ``verify`` and :func:`read_checked_alarms` name it."""
    _identity, kind, ms, certainty, host, summary, details, evidence = row[:8]
    try:
        when = datetime.fromtimestamp(ms / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        when = EPOCH
    try:
        found = orjson.loads(details)
        info: dict[str, Any] = found if isinstance(found, dict) else {"details": found}
    except (orjson.JSONDecodeError, TypeError):
        info = {"details": str(details)}
    extras: dict[str, Any] = {}
    try:
        lines = orjson.loads(evidence)
        if isinstance(lines, dict) and isinstance(lines.get("evidence"), list):  # with *_hex (see _row)
            extras, lines = lines, lines["evidence"]
        shown = tuple(str(x) for x in lines) if isinstance(lines, list) else (str(lines),)
    except (orjson.JSONDecodeError, TypeError):
        shown = (str(evidence),)
    alarm = Alarm(
        _plain(kind), when, str(summary), _plain(certainty), None if host is None else str(host), info, shown
    )
    body = {**alarm_to_dict(alarm), **extras, "details": info, "evidence": list(shown)}
    try:  # the exact bytes back from the *_hex companions
        return Alarm.from_dict({**body, "time": alarm.time.isoformat()})
    except (KeyError, TypeError, ValueError):  # an edited row: shown as it is
        return alarm


def _plain(value: object) -> str:
    """A kind or certainty as text (never anything but ASCII as written; an edited one may be)."""
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "replace")


def read_alarms(path: str | Path) -> list[Alarm]:
    """Every alarm kept in the store at ``path``, oldest first."""
    return read_checked_alarms(path)[0]


def read_checked_alarms(path: str | Path) -> tuple[list[Alarm], str | None]:
    """Every alarm kept in the store at ``path`` (oldest first) and, when their hash chain is
    broken (an alarm edited, deleted, inserted or moved), what is wrong in one line."""
    with EventStore(path, readonly=True) as store, sqlite_errors(store.path):
        rows = store.conn.execute(
            f"SELECT {', '.join(ALARM_COLUMNS)} FROM alarms ORDER BY time_ms, seq"
        ).fetchall()
        result = verify_alarm_chain(store.conn)
    problem = None
    if result.problem is not None:
        problem = f"the alarms' hash chain is broken ({result.problem.detail}): run exectrail verify"
    return [_alarm(row) for row in rows], problem


def verify_alarms(store: EventStore) -> list[str]:
    """Problems in the alarms chain (empty when every stored alarm is the one written, in order):
    the first bad alarm, ``alarm N: KIND: what``."""
    with sqlite_errors(store.path):
        problem = verify_alarm_chain(store.conn).problem
    return [] if problem is None else [f"alarm {problem.seq}: {problem.kind}: {problem.detail}"]


__all__ = [
    "alarm_identity",
    "alarm_message_body",
    "read_alarms",
    "read_checked_alarms",
    "store_alarms",
    "verify_alarms",
]
