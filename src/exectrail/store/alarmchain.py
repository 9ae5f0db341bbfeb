"""Walking the alarms' hash chain (see :mod:`exectrail.store.chain`): is every stored alarm the one
written, in its place?

Like the events chain, it stops at the first alarm that does not check out and says what happened to
it: ``deleted`` (a ``seq`` missing, or the alarm does not follow its predecessor while its successor
follows it), ``edited`` (content does not match its digest), ``inserted`` (its successor follows its
predecessor) or ``reordered``. Alarms deleted from the end are found only against a noted head.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from exectrail.store.chain import ALARM_COLUMNS, GENESIS, Head, alarm_digest, link, stored_bytes
from exectrail.store.schema import current_version

ALARMS_SINCE = 2  # the schema version that added the alarms table
_SELECT = f"SELECT seq, {', '.join(ALARM_COLUMNS)}, digest, chain FROM alarms"
_N = len(ALARM_COLUMNS)


@dataclass(frozen=True)
class AlarmProblem:
    """The first bad alarm: ``kind`` is deleted, edited, inserted, reordered or mismatch."""

    kind: str
    seq: int
    detail: str


@dataclass(frozen=True)
class AlarmChainResult:
    rows: int  # alarms checked before the first problem (all when intact)
    head: Head | None  # (seq, chain) of the last stored alarm
    problem: AlarmProblem | None = None


def has_alarms_table(conn: sqlite3.Connection) -> bool:
    """False for a store made before alarms were kept (schema version 1, opened read-only)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarms'")
    return found.fetchone() is not None


def alarms_head(conn: sqlite3.Connection) -> Head | None:
    """(seq, chain) of the last stored alarm; None when there is none."""
    if not has_alarms_table(conn):
        return None
    row = conn.execute("SELECT seq, chain FROM alarms ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), stored_bytes(row[1]))


def verify_alarm_chain(conn: sqlite3.Connection, expect: Head | None = None) -> AlarmChainResult:
    """Check every stored alarm (and that alarm ``expect[0]`` still carries ``expect[1]``)."""
    if not has_alarms_table(conn):
        if current_version(conn) >= ALARMS_SINCE:  # the migration made it: someone dropped it
            return AlarmChainResult(0, None, AlarmProblem("deleted", 1, "the alarms table was dropped"))
        return AlarmChainResult(0, None, _expected(conn, expect) if expect else None)
    rows = [_load(raw) for raw in conn.execute(_SELECT + " ORDER BY seq")]
    head = (rows[-1][0], rows[-1][2]) if rows else None
    previous, checked = GENESIS, 0
    for index, (seq, row_digest, chain, computed) in enumerate(rows):
        expected_seq = checked + 1
        if seq != expected_seq:
            missing = (
                f"alarm {expected_seq}" if seq == expected_seq + 1 else f"alarms {expected_seq}–{seq - 1}"
            )
            return AlarmChainResult(
                checked, head, AlarmProblem("deleted", seq, f"{missing} missing before alarm {seq}")
            )
        if computed != row_digest or chain != link(previous, row_digest):
            after = rows[index + 1] if index + 1 < len(rows) else None
            return AlarmChainResult(
                checked, head, _explain(seq, row_digest, chain, computed, previous, after, rows)
            )
        previous, checked = chain, checked + 1
    return AlarmChainResult(checked, head, _expected(conn, expect) if expect else None)


_Loaded = tuple[int, bytes, bytes, bytes]  # seq, digest, chain, digest of the content as stored now


def _load(raw: tuple[Any, ...]) -> _Loaded:
    return raw[0], stored_bytes(raw[_N + 1]), stored_bytes(raw[_N + 2]), alarm_digest(raw[1 : _N + 1])


def _explain(
    seq: int,
    row_digest: bytes,
    chain: bytes,
    computed: bytes,
    previous: bytes,
    after: _Loaded | None,
    rows: list[_Loaded],
) -> AlarmProblem:
    if after is not None and after[2] == link(previous, after[1]):
        return AlarmProblem(
            "inserted", seq, f"alarm {seq} was inserted: alarm {seq + 1} follows alarm {seq - 1}"
        )
    if computed != row_digest:
        return AlarmProblem("edited", seq, f"alarm {seq} was edited: its content does not match its digest")
    if chain == link(GENESIS, row_digest) and seq != 1:
        return AlarmProblem("reordered", seq, f"alarm {seq} was written as the first alarm")
    for other in rows:  # (alarms are few: all of them are looked at)
        if other[0] not in (seq, seq - 1) and chain == link(other[2], row_digest):
            return AlarmProblem("reordered", seq, f"alarm {seq} was written right after alarm {other[0]}")
    if after is None:
        return AlarmProblem(
            "inserted",
            seq,
            f"alarm {seq} (the last) does not follow alarm {seq - 1}: appended, or edited with its digest",
        )
    if after[2] == link(chain, after[1]):
        return AlarmProblem(
            "deleted",
            seq,
            f"alarm {seq} does not follow alarm {seq - 1}: an alarm between them was deleted (alarms "
            f"renumbered), or alarm {seq} was edited together with its digest",
        )
    return AlarmProblem("edited", seq, f"alarm {seq}: digest and chain values do not fit its neighbours")


def _expected(conn: sqlite3.Connection, expect: Head) -> AlarmProblem | None:
    seq, value = expect
    row = None
    if has_alarms_table(conn):
        row = conn.execute("SELECT chain FROM alarms WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return AlarmProblem(
            "deleted", seq, f"alarm {seq} of the noted head no longer exists (alarms removed from the end)"
        )
    if row[0] != value:
        return AlarmProblem(
            "mismatch",
            seq,
            f"alarm {seq} does not carry the noted head: alarms up to it were changed and re-chained",
        )
    return None
