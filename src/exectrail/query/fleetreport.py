"""``report`` over the fleet in ClickHouse: the store's summaries (:mod:`~exectrail.query.report`),
the same answers for the same events.

Each ranking reads every group from ClickHouse (counting ids once: a row delivered twice is one
event) and ranks them in Python in the store's order, ties included (:func:`text_order`).
Text comes back as hex of its bytes, so names that are not UTF-8 survive exactly. (Aliases never
reuse a column's name: ClickHouse would read the alias wherever the column is named.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from exectrail.filters import EventFilter
from exectrail.jsonform import from_hex
from exectrail.query.fleetsql import EVENTS, FAILED, MS, exact_where, raw
from exectrail.query.report import (
    HOUR_MS,
    MEMFD,
    WRITABLE_DIRS,
    ExeCount,
    FailureCount,
    FirstSeen,
    HourCount,
    Report,
    UserCount,
    WritableExec,
    errno_name,
    newest_first_seen,
    place_of,
    text_order,
    user_name,
)
from exectrail.store.reader import ms_at_or_after
from exectrail.timefmt import ms_to_time
from exectrail.warehouse.source import Fleet

T = TypeVar("T")


def _text(hex_text: object) -> str | None:
    """Text selected as ``hex(...)``: its bytes, read as the store reads a BLOB."""
    return None if hex_text is None else from_hex(str(hex_text))


def _ranked(items: list[T], key: Callable[[T], Any], top: int) -> list[T]:
    items.sort(key=key)
    return items[:top]


def _null_first(value: int | None) -> tuple[int, int]:
    """SQLite's order of a number column: NULL before every number."""
    return (0, 0) if value is None else (1, value)


class _FleetReporter:
    def __init__(self, fleet: Fleet, event_filter: EventFilter, top: int) -> None:
        self.fleet, self.filter, self.top = fleet, event_filter, top
        self.where = exact_where(fleet, event_filter)

    def rows(self, select: str, tail: str = "", extra: str | None = None) -> list[dict[str, Any]]:
        where = self.where + (f" AND {extra}" if extra else "")
        return list(self.fleet.rows(f"SELECT {select} FROM {self.fleet.table}{where} {tail}"))

    def users(self, column: str) -> list[UserCount]:
        rows = self.rows(f"{column} AS who, {EVENTS} AS n", f"GROUP BY {column}")
        counts = [UserCount(r["who"], user_name(r["who"]), r["n"]) for r in rows]
        return _ranked(counts, lambda u: (-u.count, _null_first(u.uid)), self.top)

    def first_seen(self) -> list[FirstSeen]:
        exe = f"hex({raw('exe')})"
        in_range = self.rows(f"{exe} AS exe_bytes, {EVENTS} AS n", "GROUP BY exe_bytes", "success = 1")
        hosts = self.fleet.host_condition()
        sql = (
            f"SELECT {exe} AS exe_bytes, min({MS}) AS first FROM {self.fleet.table} "
            f"WHERE type = 'exec' AND {hosts} AND success = 1 GROUP BY exe_bytes"
        )
        ever = {row["exe_bytes"]: row["first"] for row in self.fleet.rows(sql)}
        start = None if self.filter.start is None else ms_at_or_after(self.filter.start)
        found = [
            FirstSeen(_text(r["exe_bytes"]), ms_to_time(ever[r["exe_bytes"]]), r["n"])
            for r in in_range
            if r["exe_bytes"] in ever and (start is None or ever[r["exe_bytes"]] >= start)
        ]
        return newest_first_seen(found, self.top)

    def writable(self) -> list[WritableExec]:
        program = (
            f"if(success = 1, {raw('exe')}, if(startsWith({raw('path')}, '/'), {raw('path')}, "
            f"concat({raw('cwd')}, '/', {raw('path')})))"
        )
        prefixes = " OR ".join(f"startsWith(prog, '{p}')" for p in WRITABLE_DIRS)
        candidates = f"({prefixes} OR position(prog, '/.') > 0 OR position(prog, '{MEMFD}') > 0)"
        sql = (
            f"SELECT hex(prog) AS prog_hex, {EVENTS} AS n, min(t) AS first, max(t) AS last FROM "
            f"(SELECT id, {program} AS prog, {MS} AS t FROM {self.fleet.table}{self.where}) "
            f"WHERE isNotNull(prog) AND {candidates} GROUP BY prog"
        )
        out = []
        for row in self.fleet.rows(sql):
            text = _text(row["prog_hex"])
            place = place_of(text) if text else None
            if text and place:
                out.append(
                    WritableExec(text, place, row["n"], ms_to_time(row["first"]), ms_to_time(row["last"]))
                )
        out.sort(key=lambda w: (-w.count, w.program))
        return out

    def build(self) -> Report:
        (totals,) = self.rows(f"{EVENTS} AS total, {FAILED} AS failed, min({MS}) AS first, max({MS}) AS last")
        total = int(totals["total"])
        exes = self.rows(
            f"hex({raw('exe')}) AS exe_bytes, {EVENTS} AS n, uniqExact(uid) AS users",
            "GROUP BY exe_bytes",
            "success = 1",
        )
        top_exes = [ExeCount(_text(r["exe_bytes"]), r["n"], r["users"]) for r in exes]
        failures = self.rows(
            f"hex({raw('path')}) AS path_bytes, exit, {EVENTS} AS n",
            "GROUP BY path_bytes, exit",
            "success = 0",
        )
        failure_counts = [
            FailureCount(_text(r["path_bytes"]), r["exit"], errno_name(r["exit"]), r["n"]) for r in failures
        ]
        hours = self.rows(
            f"intDiv({MS}, {HOUR_MS}) AS hour, {EVENTS} AS n, {FAILED} AS failed",
            "GROUP BY hour ORDER BY hour",
        )
        return Report(
            total=total,
            failed=int(totals["failed"]),
            first=ms_to_time(totals["first"]) if total else None,
            last=ms_to_time(totals["last"]) if total else None,
            top_exes=_ranked(top_exes, lambda e: (-e.count, text_order(e.exe)), self.top),
            top_users=self.users("uid"),
            top_login_users=self.users("auid"),
            failures=_ranked(
                failure_counts, lambda f: (-f.count, text_order(f.path), _null_first(f.exit)), self.top
            ),
            first_seen=self.first_seen(),
            writable=self.writable(),
            per_hour=[HourCount(ms_to_time(h["hour"] * HOUR_MS), h["n"], h["failed"]) for h in hours],
        )


def report(fleet: Fleet, event_filter: EventFilter | None = None, top: int = 10) -> Report:
    """The summaries over the fleet's events that ``event_filter`` matches (``top`` rows per ranking)."""
    return _FleetReporter(fleet, event_filter or EventFilter(), top).build()


__all__ = ["report"]
