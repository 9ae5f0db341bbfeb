"""Walking the hash chains: is every stored event, and every stored alarm, the one written, in its place?

Both chains (:data:`EVENTS`, :data:`ALARMS`; hashing in :mod:`~exectrail.store.chain`) are walked by
:func:`walk`: it reads the rows in ``seq`` order and stops at the first row that does not check out.
It then looks at the rows around it (for events a window either side; for alarms, which are few,
all of them) to say what happened:

* ``deleted``  – ``seq`` jumps (rows missing), or a row is genuine and followed correctly but does
  not follow its predecessor (a row before it was removed and the rest renumbered);
* ``edited``   – a row's content does not match its digest;
* ``inserted`` – removing the row would heal the chain (its successor follows its predecessor);
* ``reordered`` – the row is genuine but was written after another row than the one before it now
  (or holds content that was written as another row).

Without a key, someone who rewrites the chain from a row onwards is not caught by the chain alone;
checking against a head noted earlier (``expect``) catches that for every row up to the noted one.
Rows deleted from the end are found only that way too.

:func:`verify` checks the events chain, :func:`verify_alarm_chain` the alarms chain;
:func:`verify_store` checks everything a store holds, in one read transaction: both chains and the
full-text index against the chained rows (:mod:`~exectrail.store.searchindex`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exectrail.store.chain import (
    ALARM_COLUMNS,
    GENESIS,
    Head,
    Heads,
    alarm_digest,
    digest,
    format_head,
    format_heads,
    link,
    stored_bytes,
)
from exectrail.store.codec import COLUMNS, Row
from exectrail.store.schema import current_version
from exectrail.store.searchindex import check_search_index

WINDOW = 64
ALARMS_SINCE = 2  # the schema version that added the alarms table


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
    head: str | None  # SEQ:HEX of the last row, None for an empty chain
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


@dataclass(frozen=True)
class _Break:
    """The first row that does not check out (every row before it did), and the rows around it."""

    row: _Row
    previous: bytes  # the chain value of the row before it
    after: _Row | None  # its successor
    near: dict[int, _Row]  # the rows around it, in seq order


Check = Callable[["ChainedTable", _Break], Problem | None]


@dataclass(frozen=True)
class ChainedTable:
    """A hash-chained table: what its rows are called in the messages, what a row's digest covers,
    and how a break is explained (each chain keeps the order of checks it always had)."""

    table: str
    noun: str  # one row: "row 7"
    plural: str  # several: "rows 7–9"
    a_noun: str  # "a row between them"
    content: str  # what a row holds: "the event written as row 9"
    columns: tuple[str, ...]
    digest: Callable[[Row], bytes]
    window: int | None  # rows either side read to explain a break (None: all of them)
    successor_by_seq: bool  # the successor of row k: row k + 1 (else the next row stored)
    checks: tuple[Check, ...]

    @property
    def select(self) -> str:
        return f"SELECT seq, {', '.join(self.columns)}, digest, chain FROM {self.table}"

    def problem(self, kind: str, seq: int, detail: str) -> Problem:
        return Problem(kind, seq, detail, self.table)


def _reordered(c: ChainedTable, b: _Break) -> Problem | None:
    """A genuine row (content and digest agree) written as the first row, or after another row."""
    row, k, n = b.row, b.row.seq, c.noun
    if row.computed != row.digest:
        return None
    if row.chain == link(GENESIS, row.digest) and k != 1:
        return c.problem("reordered", k, f"{n} {k} was written as the first {n}")
    for other in b.near.values():
        if other.seq not in (k, k - 1) and row.chain == link(other.chain, row.digest):
            return c.problem("reordered", k, f"{n} {k} was written right after {n} {other.seq}")
    return None


def _holds_another(c: ChainedTable, b: _Break) -> Problem | None:
    """An edited row whose content is another row's."""
    row, k, n = b.row, b.row.seq, c.noun
    if row.computed == row.digest:
        return None
    for other in b.near.values():
        if other.seq != k and row.computed == other.digest:
            return c.problem("reordered", k, f"{n} {k} holds the {c.content} written as {n} {other.seq}")
    return None


def _inserted(c: ChainedTable, b: _Break) -> Problem | None:
    k, n = b.row.seq, c.noun
    if b.after is not None and b.after.chain == link(b.previous, b.after.digest):
        return c.problem("inserted", k, f"{n} {k} was inserted: {n} {k + 1} follows {n} {k - 1}")
    return None


def _edited(c: ChainedTable, b: _Break) -> Problem | None:
    k = b.row.seq
    if b.row.computed != b.row.digest:
        return c.problem("edited", k, f"{c.noun} {k} was edited: its content does not match its digest")
    return None


def _appended(c: ChainedTable, b: _Break) -> Problem | None:
    k, n = b.row.seq, c.noun
    if b.after is None:
        detail = f"{n} {k} (the last) does not follow {n} {k - 1}: appended, or edited with its digest"
        return c.problem("inserted", k, detail)
    return None


def _renumbered(c: ChainedTable, b: _Break) -> Problem | None:
    k, n = b.row.seq, c.noun
    if b.after is not None and b.after.chain == link(b.row.chain, b.after.digest):
        detail = (
            f"{n} {k} does not follow {n} {k - 1}: {c.a_noun} between them was deleted ({c.plural} "
            f"renumbered), or {n} {k} was edited together with its digest"
        )
        return c.problem("deleted", k, detail)
    return None


EVENTS = ChainedTable(
    table="events", noun="row", plural="rows", a_noun="a row", content="event",
    columns=COLUMNS, digest=digest, window=WINDOW, successor_by_seq=True,
    checks=(_reordered, _holds_another, _inserted, _edited, _appended, _renumbered),
)  # fmt: skip
ALARMS = ChainedTable(
    table="alarms", noun="alarm", plural="alarms", a_noun="an alarm", content="alarm",
    columns=ALARM_COLUMNS, digest=alarm_digest, window=None, successor_by_seq=False,
    checks=(_inserted, _edited, _reordered, _appended, _renumbered),
)  # fmt: skip


def _loader(c: ChainedTable) -> Callable[[tuple[Any, ...]], _Row]:
    n, row_digest = len(c.columns), c.digest

    def load(raw: tuple[Any, ...]) -> _Row:
        return _Row(raw[0], stored_bytes(raw[n + 1]), stored_bytes(raw[n + 2]), row_digest(raw[1 : n + 1]))

    return load


def walk(
    conn: sqlite3.Connection,
    c: ChainedTable,
    expect: Head | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check the whole chain of ``c`` (and the noted head ``expect`` = (seq, chain value) if given)."""
    load = _loader(c)
    cursor = conn.execute(c.select + " ORDER BY seq")
    previous, expected_seq, checked = GENESIS, 1, 0
    last: Head | None = None
    while rows := cursor.fetchmany(1024):
        for raw in rows:
            row = load(raw)
            if row.seq != expected_seq:
                missing = (
                    f"{c.noun} {expected_seq}"
                    if row.seq == expected_seq + 1
                    else f"{c.plural} {expected_seq}–{row.seq - 1}"
                )
                detail = f"{missing} missing before {c.noun} {row.seq}"
                return VerifyResult(checked, _head(conn, c), c.problem("deleted", row.seq, detail))
            if row.computed != row.digest or row.chain != link(previous, row.digest):
                return VerifyResult(checked, _head(conn, c), _explain(conn, c, row, previous))
            previous, expected_seq, checked = row.chain, row.seq + 1, checked + 1
            last = (row.seq, row.chain)
        if progress is not None:
            progress(len(rows))
    head = None if last is None else format_head(*last)
    problem = None if expect is None else _check_expected(conn, c, expect)
    return VerifyResult(checked, head, problem)


def verify(
    conn: sqlite3.Connection,
    expect: Head | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check the events chain (and the noted head ``expect`` = (seq, chain value) if given)."""
    return walk(conn, EVENTS, expect, progress)


def has_alarms_table(conn: sqlite3.Connection) -> bool:
    """False for a store made before alarms were kept (schema version 1, opened read-only)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarms'")
    return found.fetchone() is not None


def verify_alarm_chain(conn: sqlite3.Connection, expect: Head | None = None) -> VerifyResult:
    """Check every stored alarm (and that alarm ``expect[0]`` still carries ``expect[1]``)."""
    if has_alarms_table(conn):
        return walk(conn, ALARMS, expect)
    if current_version(conn) >= ALARMS_SINCE:  # the migration made it: someone dropped it
        return VerifyResult(0, None, ALARMS.problem("deleted", 1, "the alarms table was dropped"))
    return VerifyResult(0, None, None if expect is None else _gone(ALARMS, expect[0]))


@dataclass(frozen=True)
class StoreVerdict:
    """What :func:`verify_store` found: every problem (events chain, alarms chain, search index)."""

    events: VerifyResult
    alarms: VerifyResult
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def heads(self) -> str:
        """Both heads as ``events=SEQ:HEX,alarms=SEQ:HEX`` (:func:`~exectrail.store.chain.format_heads`)."""
        return format_heads(Heads(_parsed(self.events.head), _parsed(self.alarms.head)))


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
    problems = [p for p in (events.problem, alarms.problem) if p is not None]
    if index is not None:
        problems.append(Problem(index[0], 0, index[1], "index"))
    return StoreVerdict(events, alarms, tuple(problems))


def store_heads(conn: sqlite3.Connection) -> str:
    """Both chain heads now (what ``verify --head`` prints)."""
    alarms = _last(conn, ALARMS) if has_alarms_table(conn) else None
    return format_heads(Heads(_last(conn, EVENTS), alarms))


def _parsed(head: str | None) -> Head | None:
    if head is None:
        return None
    seq, _, value = head.partition(":")
    return int(seq), bytes.fromhex(value)


def _last(conn: sqlite3.Connection, c: ChainedTable) -> Head | None:
    """(seq, chain) of the last row; None when there is none."""
    row = conn.execute(f"SELECT seq, chain FROM {c.table} ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), stored_bytes(row[1]))


def _head(conn: sqlite3.Connection, c: ChainedTable) -> str | None:
    last = _last(conn, c)
    return None if last is None else format_head(*last)


def _explain(conn: sqlite3.Connection, c: ChainedTable, row: _Row, previous: bytes) -> Problem:
    """Why ``row`` (the first bad one; everything before it checked out) is bad."""
    k = row.seq
    if c.window is None:
        rows = conn.execute(c.select + " ORDER BY seq")
    else:
        between = (k - c.window, k + c.window)
        rows = conn.execute(c.select + " WHERE seq BETWEEN ? AND ? ORDER BY seq", between)
    near = {r.seq: r for r in map(_loader(c), rows)}
    after = near.get(k + 1) if c.successor_by_seq else next((r for r in near.values() if r.seq > k), None)
    found = _Break(row, previous, after, near)
    for check in c.checks:
        problem = check(c, found)
        if problem is not None:
            return problem
    return c.problem("edited", k, f"{c.noun} {k}: digest and chain values do not fit its neighbours")


def _gone(c: ChainedTable, seq: int) -> Problem:
    detail = f"{c.noun} {seq} of the noted head no longer exists ({c.plural} removed from the end)"
    return c.problem("deleted", seq, detail)


def _check_expected(conn: sqlite3.Connection, c: ChainedTable, expect: Head) -> Problem | None:
    seq, value = expect
    row = conn.execute(f"SELECT chain FROM {c.table} WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return _gone(c, seq)
    if row[0] != value:
        changed = f"{c.plural} up to it were changed and re-chained"
        return c.problem("mismatch", seq, f"{c.noun} {seq} does not carry the noted head: {changed}")
    return None
