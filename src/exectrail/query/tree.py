"""``tree``: a process's ancestry and descendants, from exec events alone.

A *process* is a run of exec events of one pid with the same ppid (a process that execs several
times, e.g. ``env`` → ``python3``, is one process with several execs). A new process with the same
pid starts when the ppid changes, or when, between two execs of the pid more than a second apart,
pids just below it were used (the kernel's pid counter came round again: pid reuse).

The parent of a process is the process of its ppid that holds the latest exec of that pid at or
before the child's first exec. When that exec lies more than a second before the child's and the
pid counter came round in between, the parent may be an older process that had the same pid: it is
shown marked ``uncertain`` and the walk up stops there. Its children are the processes whose ppid
is its pid and whose first exec falls within its lifetime (its first exec up to the next process
with the same pid).
A process whose pid never exec'd (a fork that ran children, or one started before recording)
appears as a node without execs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.store.reader import SELECT_EVENTS, fetch_events
from exectrail.timefmt import time_to_ms

REUSE_GAP_MS = 1000
REUSE_NEIGHBOURS = 64
MAX_ANCESTORS = 256


@dataclass
class ProcessNode:
    """One process: its exec attempts (oldest first; empty when none was recorded) and children."""

    pid: int
    execs: list[ExecEvent] = field(default_factory=list)
    children: list[ProcessNode] = field(default_factory=list)
    end_ms: int | None = None  # first exec of the next process with this pid (exclusive)
    hidden: int = 0  # execs left out by a filter (:func:`prune`)
    uncertain: bool = False  # an ancestor whose pid may have been reused before its child was born

    @property
    def ppid(self) -> int | None:
        return self.execs[0].ppid if self.execs else None

    @property
    def start(self) -> datetime | None:
        return self.execs[0].time if self.execs else None

    @property
    def recorded(self) -> bool:
        return bool(self.execs) or self.hidden > 0


@dataclass
class ProcessTree:
    """``ancestors`` run from the parent upwards; ``target.children`` hold the descendants."""

    pid: int
    at: datetime | None
    target: ProcessNode
    ancestors: list[ProcessNode]
    nodes: int
    truncated: bool


class TreeSource(Protocol):
    """The four questions the tree asks of recorded execs (times in ms since the epoch)."""

    def execs(
        self, pid: int, lo: int | None = None, lo_strict: bool = False, hi: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[ExecEvent]:  # fmt: skip
        """Execs of ``pid`` with time >= ``lo`` (> when ``lo_strict``) and <= ``hi``, in time order."""
        ...

    def any_exec_between(self, pids: Sequence[int], t1: int, t2: int) -> bool:
        """Whether any of ``pids`` exec'd strictly between t1 and t2."""
        ...

    def has_children(self, pid: int, upto: int | None) -> bool:
        """Whether some exec has ppid ``pid`` (at or before ``upto``)."""
        ...

    def children(self, ppid: int, lo: int | None, hi: int | None) -> list[tuple[int, int]]:
        """(pid, first exec time) of each pid with an exec of ppid ``ppid`` in [lo, hi)."""
        ...


class StoreTreeSource:
    """:class:`TreeSource` over the store's ``events`` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execs(
        self, pid: int, lo: int | None = None, lo_strict: bool = False, hi: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[ExecEvent]:  # fmt: skip
        cond, params = "", [pid]
        if lo is not None:
            cond += f" AND e.time_ms {'>' if lo_strict else '>='} ?"
            params.append(lo)
        if hi is not None:
            cond += " AND e.time_ms <= ?"
            params.append(hi)
        order = "DESC" if newest_first else "ASC"
        sql = f"{SELECT_EVENTS} WHERE e.pid = ?{cond} ORDER BY e.time_ms {order}, e.seq {order}"
        return fetch_events(self.conn, sql, params, arraysize=64)

    def any_exec_between(self, pids: Sequence[int], t1: int, t2: int) -> bool:
        marks = ", ".join("?" * len(pids))
        sql = f"SELECT 1 FROM events WHERE pid IN ({marks}) AND time_ms > ? AND time_ms < ? LIMIT 1"
        return self.conn.execute(sql, (*pids, t1, t2)).fetchone() is not None  # one index seek per pid

    def has_children(self, pid: int, upto: int | None) -> bool:
        where, params = "ppid = ?", [pid]
        if upto is not None:
            where += " AND time_ms <= ?"
            params.append(upto)
        return self.conn.execute(f"SELECT 1 FROM events WHERE {where} LIMIT 1", params).fetchone() is not None

    def children(self, ppid: int, lo: int | None, hi: int | None) -> list[tuple[int, int]]:
        sql = "SELECT pid, min(time_ms) FROM events WHERE ppid = ?"
        params: list[int] = [ppid]
        if lo is not None:
            sql += " AND time_ms >= ?"
            params.append(lo)
        if hi is not None:
            sql += " AND time_ms < ?"
            params.append(hi)
        rows: list[tuple[int, int]] = self.conn.execute(sql + " GROUP BY pid", params).fetchall()
        return rows


class _Finder:
    def __init__(self, source: TreeSource) -> None:
        self.source = source

    def same_process(self, earlier: ExecEvent, later: ExecEvent) -> bool:
        """Are two consecutive execs of one pid the same process (no ppid change, no pid reuse)?"""
        if earlier.ppid != later.ppid or later.pid is None:  # both were found by pid: never None
            return False
        return not self.maybe_reused(later.pid, time_to_ms(earlier.time), time_to_ms(later.time))

    def maybe_reused(self, pid: int, t1: int, t2: int) -> bool:
        """Could ``pid`` have been handed to another process between t1 and t2? Yes when they are more
        than a second apart and pids just below it were handed out in between (the counter came round)."""
        below = list(range(max(pid - REUSE_NEIGHBOURS, 1), pid))
        if t2 - t1 <= REUSE_GAP_MS or not below:
            return False
        return self.source.any_exec_between(below, t1, t2)

    def process_at(self, pid: int, at_ms: int | None) -> ProcessNode | None:
        """The process with ``pid`` holding the latest exec at or before ``at_ms`` (None: any time)."""
        execs: list[ExecEvent] = []
        for event in self.source.execs(pid, hi=at_ms, newest_first=True):
            if execs and not self.same_process(event, execs[-1]):
                break
            execs.append(event)
        if not execs:
            return None
        execs.reverse()
        node = ProcessNode(pid, execs)
        if at_ms is not None:
            self._extend(node, self.source.execs(pid, lo=at_ms, lo_strict=True))
        return node

    def _extend(self, node: ProcessNode, later: Iterator[ExecEvent]) -> ExecEvent | None:
        """Add the execs of ``later`` that continue ``node``; return the first that does not."""
        for event in later:
            if self.same_process(node.execs[-1], event):
                node.execs.append(event)
            else:
                node.end_ms = time_to_ms(event.time)
                return event
        return None

    def processes_between(self, pid: int, lo: int | None, hi: int | None) -> Iterator[ProcessNode]:
        """Processes with ``pid`` whose first exec lies in [lo, hi)."""
        later = self.source.execs(pid, lo=lo)
        first = next(later, None)
        while first is not None and (hi is None or time_to_ms(first.time) < hi):
            node = ProcessNode(pid, [first])
            first = self._extend(node, later)
            yield node


def process_tree(
    source: sqlite3.Connection | TreeSource, pid: int, at: datetime | None = None, max_nodes: int = 2000
) -> ProcessTree | None:
    """The tree around ``pid`` at time ``at`` (default: its latest process); None if never seen.
    ``source``: the store's connection, or another :class:`TreeSource` (one host of the fleet)."""
    finder = _Finder(StoreTreeSource(source) if isinstance(source, sqlite3.Connection) else source)
    at_ms = None if at is None else time_to_ms(at)
    target = finder.process_at(pid, at_ms)
    if target is None:
        if not finder.source.has_children(pid, at_ms):  # a pid without execs but with recorded children
            return None  # (e.g. a login shell started before recording)
        target = ProcessNode(pid)
    ancestors = _ancestors(finder, target)
    budget = [max_nodes]
    _descend(finder, target, budget)
    nodes = max_nodes - budget[0] + 1
    return ProcessTree(pid, at, target, ancestors, nodes, truncated=budget[0] < 0)


def _ancestors(finder: _Finder, node: ProcessNode) -> list[ProcessNode]:
    """Parents upwards; the walk stops at an uncertain link (see :meth:`_Finder.maybe_reused`)."""
    out: list[ProcessNode] = []
    seen = {(node.pid, node.start)}
    while node.execs and len(out) < MAX_ANCESTORS:
        ppid, born = node.execs[0].ppid, time_to_ms(node.execs[0].time)
        if ppid is None:  # an incomplete event: its parent is unknown
            break
        parent = finder.process_at(ppid, born) or ProcessNode(ppid)
        if (parent.pid, parent.start) in seen:
            break
        seen.add((parent.pid, parent.start))
        out.append(parent)
        before = [time_to_ms(e.time) for e in parent.execs if time_to_ms(e.time) <= born]
        if before and finder.maybe_reused(ppid, before[-1], born):
            parent.uncertain = True
            break
        node = parent
    return out


def _descend(finder: _Finder, node: ProcessNode, budget: list[int]) -> None:
    """Fill ``node.children`` recursively (breadth-first per level), spending ``budget``."""
    level = [node]
    while level and budget[0] >= 0:
        following: list[ProcessNode] = []
        for parent in level:
            for child in _children(finder, parent):
                budget[0] -= 1
                if budget[0] < 0:
                    return
                parent.children.append(child)
                following.append(child)
        level = following


def _children(finder: _Finder, parent: ProcessNode) -> list[ProcessNode]:
    lo = time_to_ms(parent.execs[0].time) if parent.execs else None
    hi = parent.end_ms
    children: list[ProcessNode] = []
    for child_pid, first_ms in finder.source.children(parent.pid, lo, hi):
        for proc in finder.processes_between(child_pid, first_ms, hi):
            if proc.execs[0].ppid == parent.pid:
                children.append(proc)
    children.sort(key=lambda p: (p.execs[0].time, p.pid))
    return children


def prune(tree: ProcessTree, event_filter: EventFilter) -> ProcessTree:
    """``tree`` showing only the execs ``event_filter`` matches: descendants with no match at or below
    them are dropped; the target and its ancestors stay (with their other execs counted as hidden)."""

    def keep(node: ProcessNode, always: bool) -> ProcessNode | None:
        children = [c for c in (keep(child, False) for child in node.children) if c is not None]
        execs = [e for e in node.execs if event_filter.matches(e)]
        if not (execs or children or always):
            return None
        return ProcessNode(node.pid, execs, children, node.end_ms, node.hidden + len(node.execs) - len(execs))

    target = keep(tree.target, True)
    assert target is not None
    return ProcessTree(tree.pid, tree.at, target, tree.ancestors, count(target), tree.truncated)


def count(node: ProcessNode) -> int:
    """Processes in ``node``'s subtree, itself included."""
    return 1 + sum(count(child) for child in node.children)
