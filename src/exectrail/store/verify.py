"""Walking the hash chain: is every stored event the one written, in its place?

:func:`verify` reads the rows in ``seq`` order and stops at the first row that does not check out.
It then looks at the neighbourhood (a window of rows either side) to say what happened:

* ``deleted``  – ``seq`` jumps (rows missing), or a row is genuine and followed correctly but does
  not follow its predecessor (a row before it was removed and the rest renumbered);
* ``edited``   – a row's content does not match its digest;
* ``inserted`` – removing the row would heal the chain (its successor follows its predecessor);
* ``reordered`` – the row is genuine but was written after another row than the one before it now
  (or holds content that was written as another row).

Without a key, someone who rewrites the chain from a row onwards is not caught by the chain alone;
checking against a head noted earlier (``expect``) catches that for every row up to the noted one.

:func:`verify_store` checks everything a store holds, in one read transaction: the events chain,
the alarms chain (:mod:`~exectrail.store.alarmchain`) and the full-text index against the chained
rows (:mod:`~exectrail.store.searchindex`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exectrail.store.alarmchain import AlarmChainResult, alarms_head, verify_alarm_chain
from exectrail.store.chain import GENESIS, Heads, digest, format_head, format_heads, link, stored_bytes
from exectrail.store.codec import COLUMNS
from exectrail.store.searchindex import check_search_index

WINDOW = 64
_SELECT = f"SELECT seq, {', '.join(COLUMNS)}, digest, chain FROM events"
_N = len(COLUMNS)


@dataclass(frozen=True)
class Problem:
    """The first bad row: ``kind`` is deleted, edited, inserted, reordered or mismatch (noted head);
    ``table`` is ``events``, ``alarms`` or ``index`` (the full-text index: ``kind`` is wiped, edited
    or damaged, ``seq`` 0)."""

    kind: str
    seq: int
    detail: str
    table: str = "events"

    @property
    def place(self) -> str:
        """``row 57``, ``alarm 3`` or ``search index``."""
        return {"events": f"row {self.seq}", "alarms": f"alarm {self.seq}"}.get(self.table, "search index")

    @property
    def summary(self) -> str:
        """One line for stderr: which tamper evidence failed, and where."""
        if self.table == "events":
            return f"hash chain broken at row {self.seq}"
        if self.table == "alarms":
            return f"alarm chain broken at alarm {self.seq}"
        return f"search index {self.kind}: it does not match the stored events"


@dataclass(frozen=True)
class VerifyResult:
    rows: int  # rows checked before the first problem (all rows when intact)
    head: str | None  # SEQ:HEX of the last row, None for an empty store
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Row:
    seq: int
    digest: bytes
    chain: bytes
    computed: bytes  # digest of the content as stored now


def _load(row: tuple[Any, ...]) -> _Row:
    return _Row(row[0], stored_bytes(row[_N + 1]), stored_bytes(row[_N + 2]), digest(row[1 : _N + 1]))


def verify(
    conn: sqlite3.Connection,
    expect: tuple[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check the whole chain (and the noted head ``expect`` = (seq, chain value) if given)."""
    cursor = conn.execute(_SELECT + " ORDER BY seq")
    prev_chain, expected_seq, checked = GENESIS, 1, 0
    last: tuple[int, bytes] | None = None
    while rows := cursor.fetchmany(1024):
        for raw in rows:
            row = _load(raw)
            if row.seq != expected_seq:
                missing = (
                    f"row {expected_seq}"
                    if row.seq == expected_seq + 1
                    else f"rows {expected_seq}–{row.seq - 1}"
                )
                return VerifyResult(
                    checked,
                    _head(conn),
                    Problem("deleted", row.seq, f"{missing} missing before row {row.seq}"),
                )
            if row.computed != row.digest or row.chain != link(prev_chain, row.digest):
                return VerifyResult(checked, _head(conn), _explain(conn, row, prev_chain))
            prev_chain, expected_seq, checked = row.chain, row.seq + 1, checked + 1
            last = (row.seq, row.chain)
        if progress is not None:
            progress(len(rows))
    head = None if last is None else format_head(*last)
    if expect is not None:
        problem = _check_expected(conn, expect)
        if problem is not None:
            return VerifyResult(checked, head, problem)
    return VerifyResult(checked, head)


@dataclass(frozen=True)
class StoreVerdict:
    """What :func:`verify_store` found: every problem (events chain, alarms chain, search index)."""

    events: VerifyResult
    alarms: AlarmChainResult
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def heads(self) -> str:
        """Both heads as ``events=SEQ:HEX,alarms=SEQ:HEX`` (:func:`~exectrail.store.chain.format_heads`)."""
        return format_heads(Heads(_parsed(self.events.head), self.alarms.head))


def verify_store(
    conn: sqlite3.Connection,
    expect: Heads | None = None,
    progress: Callable[[int], None] | None = None,
    search_index: bool = True,
) -> StoreVerdict:
    """Check everything stored, in one read transaction: the events chain, the alarms chain (and the
    noted heads in ``expect``), and (``search_index``, when the events chain is intact) the
    full-text index against the chained rows."""
    expect = expect or Heads(None)
    conn.execute("BEGIN")
    try:
        events = verify(conn, expect.events, progress)
        alarms = verify_alarm_chain(conn, expect.alarms)
        # the index is compared with the rows as stored: only meaningful when they are the chained ones
        index = check_search_index(conn) if search_index and events.ok else None
    finally:
        conn.execute("ROLLBACK")
    problems = [events.problem] if events.problem else []
    if alarms.problem is not None:
        a = alarms.problem
        problems.append(Problem(a.kind, a.seq, a.detail, "alarms"))
    if index is not None:
        problems.append(Problem(index[0], 0, index[1], "index"))
    return StoreVerdict(events, alarms, tuple(problems))


def store_heads(conn: sqlite3.Connection) -> str:
    """Both chain heads now (what ``verify --head`` prints)."""
    row = conn.execute("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return format_heads(Heads(None if row is None else (row[0], stored_bytes(row[1])), alarms_head(conn)))


def _parsed(head: str | None) -> tuple[int, bytes] | None:
    if head is None:
        return None
    seq, _, value = head.partition(":")
    return int(seq), bytes.fromhex(value)


def _head(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else format_head(row[0], row[1])


def _window(conn: sqlite3.Connection, seq: int) -> dict[int, _Row]:
    rows = conn.execute(_SELECT + " WHERE seq BETWEEN ? AND ? ORDER BY seq", (seq - WINDOW, seq + WINDOW))
    return {r.seq: r for r in map(_load, rows)}


def _explain(conn: sqlite3.Connection, row: _Row, prev_chain: bytes) -> Problem:
    """Why ``row`` (the first bad one; everything before it checked out) is bad."""
    near = _window(conn, row.seq)
    nxt = near.get(row.seq + 1)
    k = row.seq
    content_ok = row.computed == row.digest
    if content_ok:
        if row.chain == link(GENESIS, row.digest) and k != 1:
            return Problem("reordered", k, f"row {k} was written as the first row")
        for other in near.values():
            if other.seq not in (k, k - 1) and row.chain == link(other.chain, row.digest):
                return Problem("reordered", k, f"row {k} was written right after row {other.seq}")
    else:
        for other in near.values():
            if other.seq != k and row.computed == other.digest:
                return Problem("reordered", k, f"row {k} holds the event written as row {other.seq}")
    if nxt is not None and nxt.chain == link(prev_chain, nxt.digest):
        return Problem("inserted", k, f"row {k} was inserted: row {k + 1} follows row {k - 1}")
    if not content_ok:
        return Problem("edited", k, f"row {k} was edited: its content does not match its digest")
    if nxt is None:
        return Problem(
            "inserted",
            k,
            f"row {k} (the last) does not follow row {k - 1}: appended, or edited with its digest",
        )
    if nxt.chain == link(row.chain, nxt.digest):
        return Problem(
            "deleted",
            k,
            f"row {k} does not follow row {k - 1}: a row between them was deleted (rows renumbered), "
            f"or row {k} was edited together with its digest",
        )
    return Problem("edited", k, f"row {k}: digest and chain values do not fit its neighbours")


def _check_expected(conn: sqlite3.Connection, expect: tuple[int, bytes]) -> Problem | None:
    seq, value = expect
    row = conn.execute("SELECT chain FROM events WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return Problem(
            "deleted", seq, f"row {seq} of the noted head no longer exists (rows removed from the end)"
        )
    if row[0] != value:
        return Problem(
            "mismatch",
            seq,
            f"row {seq} does not carry the noted head: rows up to it were changed and re-chained",
        )
    return None
