"""The review filters as ClickHouse SQL over the fleet table, with the store's exact semantics.

For rows whose text is UTF-8 the conditions are exact (globs as anchored RE2 with ``(?s)``, keys
as a comma-split list, command-line substrings compared as bytes, non-UTF-8 arguments read back
from ``argv_hex``). Names the sink had to keep as hex (``comm_hex``, ``exe_hex``, ``key_hex``) are
let through by the SQL and decided in Python: :func:`exact_where` reads those few rows, asks
:meth:`EventFilter.matches` and leaves out the ids it rejects, so counts and aggregates agree with
the store too. Times: a row's instant is ``toUInt64(time) * 1000 + time_ms``; ``time`` is also
bounded by whole seconds so that ClickHouse skips the months and parts outside the range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from exectrail.filters import EventFilter
from exectrail.timefmt import time_to_ms
from exectrail.warehouse.rows import EVENT_COLUMNS, event_of
from exectrail.warehouse.source import Fleet, glob_regex, is_glob, literal

#: A row's time in milliseconds since the epoch.
MS = "(toUInt64(time) * 1000 + time_ms)"
#: Events among the selected rows, each id once: a row delivered twice counts once until ClickHouse
#: merges the copies. Counted by the id's 64-bit hash, 4 to 6 times faster than the string on 18.16
#: (two of 10 million ids share a hash with odds of about 3 in a million; the count is then one short).
EVENTS = "uniqExact(cityHash64(id))"
#: Failed execs among them (as the store's ``sum(1 - success)``: a NULL success is not a failure).
FAILED = "uniqExactIf(cityHash64(id), ifNull(success, 1) = 0)"
#: Exec rows in time order, as the store orders them (then host, for the fleet).
TIME_COLUMNS = ("time", "time_ms", "serial", "ifNull(node, '')", "host")
TIME_ORDER = ", ".join(TIME_COLUMNS)
#: The command line as bytes, arguments joined by spaces (non-UTF-8 ones from their hex).
ARGV_BYTES = (
    "if(notEmpty(argv_hex), arrayStringConcat(arrayMap(x -> unhex(x), argv_hex), ' '), "
    "arrayStringConcat(argv, ' '))"
)
_HEX_NAMES = {"comms": "comm_hex", "exes": "exe_hex", "keys": "key_hex"}


def raw(column: str) -> str:
    """A text column's bytes: from its ``_hex`` companion when the text was not UTF-8."""
    return f"if(isNotNull({column}_hex), unhex(assumeNotNull({column}_hex)), {column})"


def bytes_literal(value: bytes) -> str:
    """``value`` as a ClickHouse string literal of exactly those bytes."""
    out = []
    for byte in value:
        ch = chr(byte)
        out.append("\\" + ch if ch in "\\'" else ch if 0x20 <= byte < 0x7F else f"\\x{byte:02x}")
    return "'" + "".join(out) + "'"


def _numbers(column: str, values: Iterable[int]) -> str:
    return f"{column} IN ({', '.join(str(int(v)) for v in sorted(values))})"


def ms_range(f: EventFilter) -> tuple[int | None, int | None]:
    """The filter's ``--start`` and ``--end`` in ms since the epoch (None where not given)."""
    return (None if f.start is None else time_to_ms(f.start), None if f.end is None else time_to_ms(f.end))


def second_bounds(lo_ms: int | None, hi_ms: int | None) -> list[str]:
    """Conditions on ``time`` (whole seconds) for the seconds ``lo_ms`` to ``hi_ms`` touch (either
    may be None): what lets ClickHouse skip the months and parts outside the range."""
    out = []
    if lo_ms is not None:
        out.append(f"time >= toDateTime({max(lo_ms // 1000, 0)})")
    if hi_ms is not None:
        out.append(f"time <= toDateTime({max(math.ceil(hi_ms / 1000), 0)})")
    return out


def ms_bounds(lo_ms: int | None, hi_ms: int | None) -> list[str]:
    """Conditions for ``lo_ms <= time <= hi_ms`` (either may be None)."""
    out = second_bounds(lo_ms, hi_ms)
    if lo_ms is not None:
        out.append(f"{MS} >= {lo_ms}")
    if hi_ms is not None:
        out.append(f"{MS} <= {hi_ms}")
    return out


def _names(column: str, patterns: Iterable[str]) -> str:
    parts = [
        f"match({column}, {literal('(?s)' + glob_regex(p))})" if is_glob(p) else f"{column} = {literal(p)}"
        for p in patterns
    ]
    return f"({' OR '.join(parts)} OR isNotNull({column}_hex))"


def filter_conditions(f: EventFilter) -> list[str]:
    """SQL conditions (ANDed) that select exactly the rows ``f`` matches, but for rows with a
    ``comm_hex``, ``exe_hex`` or ``key_hex`` that one of ``f``'s criteria reads (let through)."""
    out = []
    for column, values in (("pid", f.pids), ("ppid", f.ppids), ("uid", f.uids)):
        if values:
            out.append(_numbers(column, values))
    if f.auids:
        known = [a for a in f.auids if a is not None]
        parts = ["isNull(auid)"] if None in f.auids else []
        if known:
            parts.append(_numbers("auid", known))
        out.append("(" + " OR ".join(parts) + ")")
    if f.comms:
        out.append(_names("comm", f.comms))
    if f.exes:
        out.append(_names("exe", f.exes))
    if f.keys:
        found = " OR ".join(f"has(splitByChar(',', assumeNotNull(key)), {literal(k)})" for k in f.keys)
        out.append(f"((isNotNull(key) AND ({found})) OR isNotNull(key_hex))")
    if f.success is not None:
        out.append(f"success = {1 if f.success else 0}")
    out += ms_bounds(*ms_range(f))
    if f.argv_contains:
        needles = [bytes_literal(t.encode("utf-8", "surrogateescape")) for t in f.argv_contains]
        out.append("(" + " OR ".join(f"position({ARGV_BYTES}, {n}) > 0" for n in needles) + ")")
    return out


def exec_where(fleet: Fleet, f: EventFilter, *more: str, prewhere: str | None = None) -> str:
    """``WHERE`` for the exec rows of ``fleet``'s hosts that may match ``f`` (and ``more``): exact
    but for the hex names :func:`exact_where` settles. ``prewhere``: a selective condition on few
    columns, read first so that the other columns are read only where it holds."""
    conditions = ["type = 'exec'", *([fleet.host_condition()] if fleet.hosts else []), *filter_conditions(f)]
    head = f" PREWHERE {prewhere}" if prewhere else ""
    return head + " WHERE " + " AND ".join([*conditions, *more])


def exact_where(fleet: Fleet, f: EventFilter, *more: str) -> str:
    """:func:`exec_where`, made exact: rows with hex names the filter reads are checked in Python and
    the ids it rejects left out."""
    where = exec_where(fleet, f, *more)
    hex_columns = [column for name, column in _HEX_NAMES.items() if getattr(f, name)]
    if not hex_columns:
        return where
    doubtful = " OR ".join(f"isNotNull({c})" for c in hex_columns)
    sql = f"SELECT id, {EVENT_COLUMNS} FROM {fleet.table}{where} AND ({doubtful})"
    rejected = sorted({str(row.get("id")) for row in fleet.rows(sql) if not f.matches(event_of(row))})
    if not rejected:
        return where
    return where + f" AND id NOT IN ({', '.join(literal(r) for r in rejected)})"


__all__ = [
    "ARGV_BYTES", "EVENTS", "FAILED", "MS", "TIME_COLUMNS", "TIME_ORDER", "bytes_literal", "exact_where",
    "exec_where", "ms_bounds", "ms_range", "raw", "second_bounds",
]  # fmt: skip
