"""``tree`` over one host of the fleet: the store's tree algorithm (:mod:`~exectrail.query.tree`) asking
ClickHouse instead of SQLite.

Pids belong to a host, so a tree stays within one. The light questions (which pids exec'd when,
under which ppid) are answered from one read of the host's ``(pid, ppid, time)`` triples; whole
events are fetched per pid, a whole level of children at a time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator, Sequence

from exectrail.errors import UsageError
from exectrail.model import ExecEvent
from exectrail.query.fleetsql import MS, TIME_ORDER
from exectrail.timefmt import time_to_ms
from exectrail.warehouse.client import WarehouseError
from exectrail.warehouse.rows import EVENT_COLUMNS, event_of
from exectrail.warehouse.source import Fleet, is_glob, literal


class FleetTreeSource:
    """:class:`~exectrail.query.tree.TreeSource` over the exec rows of ``host``."""

    def __init__(self, fleet: Fleet, host: str) -> None:
        self.fleet, self.host = fleet, host
        self._where = f" WHERE type = 'exec' AND host = {literal(host)}"
        self._times: dict[int, list[int]] = defaultdict(list)  # pid -> exec times, sorted
        self._by_ppid: dict[int, list[tuple[int, int]]] = defaultdict(list)  # ppid -> (time, pid), sorted
        sql = f"SELECT pid, ppid, {MS} AS ms FROM {fleet.table}{self._where} AND isNotNull(pid) ORDER BY ms"
        for row in fleet.rows(sql):
            pid, ppid, ms = row.get("pid"), row.get("ppid"), row.get("ms")
            if not isinstance(pid, int) or not isinstance(ms, int):
                raise WarehouseError(f"the fleet table holds an exec row of {host} with a broken pid or time")
            self._times[pid].append(ms)
            if isinstance(ppid, int):
                self._by_ppid[ppid].append((ms, pid))
        self._execs: dict[int, list[ExecEvent]] = {}

    def _load(self, pids: Sequence[int]) -> None:
        """Fetch the whole execs of ``pids`` not fetched yet, in one query."""
        wanted = sorted({p for p in pids if p not in self._execs})
        if not wanted:
            return
        listed = ", ".join(str(p) for p in wanted)
        sql = (
            f"SELECT id, {EVENT_COLUMNS} FROM {self.fleet.table} PREWHERE pid IN ({listed}){self._where} "
            f"ORDER BY {TIME_ORDER}, id"
        )
        seen: set[str] = set()
        for pid in wanted:
            self._execs[pid] = []
        for row in self.fleet.rows(sql):
            row_id = str(row.get("id"))
            if row_id in seen:
                continue
            seen.add(row_id)
            event = event_of(row)
            if event.pid in self._execs:
                self._execs[event.pid].append(event)

    def execs(
        self, pid: int, lo: int | None = None, lo_strict: bool = False, hi: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[ExecEvent]:  # fmt: skip
        self._load([pid])
        found = [
            e
            for e in self._execs[pid]
            if (lo is None or (time_to_ms(e.time) > lo if lo_strict else time_to_ms(e.time) >= lo))
            and (hi is None or time_to_ms(e.time) <= hi)
        ]
        return reversed(found) if newest_first else iter(found)

    def any_exec_between(self, pids: Sequence[int], t1: int, t2: int) -> bool:
        for pid in pids:
            times = self._times.get(pid)
            if times:
                i = bisect.bisect_right(times, t1)
                if i < len(times) and times[i] < t2:
                    return True
        return False

    def has_children(self, pid: int, upto: int | None) -> bool:
        kids = self._by_ppid.get(pid)
        if not kids:
            return False
        return upto is None or kids[0][0] <= upto

    def children(self, ppid: int, lo: int | None, hi: int | None) -> list[tuple[int, int]]:
        first: dict[int, int] = {}
        for ms, pid in self._by_ppid.get(ppid, ()):
            if (lo is None or ms >= lo) and (hi is None or ms < hi) and pid not in first:
                first[pid] = ms
        self._load(list(first))  # the whole level in one query
        return list(first.items())


def tree_host(fleet: Fleet, pid: int) -> str | None:
    """The one host of ``fleet`` (its --host names) on which ``pid`` exec'd or had children; None when
    none did; a usage error when several did (pids are per host: name one with --host)."""
    if len(fleet.hosts) == 1 and not is_glob(fleet.hosts[0]):
        return fleet.hosts[0]
    sql = (
        f"SELECT DISTINCT host FROM {fleet.table} WHERE type = 'exec' AND {fleet.host_condition()} "
        f"AND (pid = {int(pid)} OR ppid = {int(pid)}) ORDER BY host"
    )
    hosts = [str(row.get("host")) for row in fleet.rows(sql)]
    if len(hosts) > 1:
        shown = ", ".join(hosts[:5]) + (", …" if len(hosts) > 5 else "")
        raise UsageError(f"pid {pid} ran on {len(hosts)} hosts ({shown}): choose one with --host")
    return hosts[0] if hosts else None


__all__ = ["FleetTreeSource", "tree_host"]
