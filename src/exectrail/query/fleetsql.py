"""The review filters as ClickHouse SQL over the fleet table: a superset, made exact in Python.

Each condition here selects at least every row the filter matches (text the sink stored as hex
because it was not UTF-8, globs, comma-joined keys and command-line bytes are let through), and
:meth:`EventFilter.matches` then decides on the rebuilt event, so the fleet answers exactly as the
store does. Times: a row's instant is ``toUInt64(time) * 1000 + time_ms``; ``time`` is also bounded
by whole seconds so that ClickHouse skips the months and parts outside the range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from exectrail.filters import EventFilter
from exectrail.timefmt import time_to_ms
from exectrail.warehouse.source import Fleet, literal, text_condition

#: A row's time in milliseconds since the epoch.
MS = "(toUInt64(time) * 1000 + time_ms)"
#: Exec rows in time order, as the store orders them (then host, for the fleet).
TIME_ORDER = "time, time_ms, serial, ifNull(node, ''), host"


def _numbers(column: str, values: Iterable[int]) -> str:
    listed = ", ".join(str(int(v)) for v in sorted(values))
    return f"{column} IN ({listed})"


def ms_bounds(lo_ms: int | None, hi_ms: int | None) -> list[str]:
    """Conditions for ``lo_ms <= time <= hi_ms`` (either may be None)."""
    out = []
    if lo_ms is not None:
        out += [f"time >= toDateTime({max(lo_ms // 1000, 0)})", f"{MS} >= {lo_ms}"]
    if hi_ms is not None:
        out += [f"time <= toDateTime({max(math.ceil(hi_ms / 1000), 0)})", f"{MS} <= {hi_ms}"]
    return out


def filter_conditions(f: EventFilter) -> list[str]:
    """SQL conditions (ANDed) that every exec row ``f`` matches meets."""
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
    for column, patterns in (("comm", f.comms), ("exe", f.exes)):
        if patterns:
            out.append(f"({text_condition(column, patterns)} OR isNotNull({column}_hex))")
    if f.keys:
        found = " OR ".join(f"position(ifNull(key, ''), {literal(k)}) > 0" for k in f.keys)
        out.append(f"({found} OR isNotNull(key_hex))")
    if f.success is not None:
        out.append(f"success = {1 if f.success else 0}")
    out += ms_bounds(
        None if f.start is None else time_to_ms(f.start), None if f.end is None else time_to_ms(f.end)
    )
    if f.argv_contains:
        parts = ["notEmpty(argv_hex)"]
        for needle in f.argv_contains:
            if _is_utf8(needle):
                parts.append(f"position(arrayStringConcat(argv, ' '), {literal(needle)}) > 0")
        out.append("(" + " OR ".join(parts) + ")")
    return out


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def exec_where(fleet: Fleet, f: EventFilter, *more: str) -> str:
    """``WHERE`` for the exec rows of ``fleet``'s hosts that may match ``f`` (and ``more``)."""
    conditions = ["type = 'exec'", *([fleet.host_condition()] if fleet.hosts else []), *filter_conditions(f)]
    return " WHERE " + " AND ".join([*conditions, *more])


__all__ = ["MS", "TIME_ORDER", "exec_where", "filter_conditions", "ms_bounds"]
