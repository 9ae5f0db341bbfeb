"""Kernel serial numbers: holes in the sequence, and grouping nearby findings into one alarm.

The kernel numbers every event it emits with one global counter, in the order it emits them, and
uses no number for an event it drops before emitting (backlog full: only the ``lost`` counter
shows that) nor while audit is disabled. Measured here: real auditd logs have no holes at all,
records of concurrent events come at most a few milliseconds out of order, and while auditd is
down the numbers go on (those records go to the kernel log). So a number that never shows up is
an event that was emitted and is not in this log -- removed by hand, dropped by a rate limit, or
written while no auditd was listening.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exectrail.model import Record

#: how long (in log time) a hole may wait for a late record of a concurrent event
REORDER_MS = 3000


@dataclass
class Hole:
    """Serials ``lo``..``hi`` not seen, revealed by ``after`` (the first record past them)."""

    lo: int
    hi: int
    before: Record | None
    after: Record
    seen_ms: int
    boundary: tuple[str, str] | None = None  # (previous file, this file) when it spans two files

    @property
    def count(self) -> int:
        return self.hi - self.lo + 1


class Holes:
    """Open holes of one node, waiting ``REORDER_MS`` for late records before they count."""

    def __init__(self) -> None:
        self.items: list[Hole] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, hole: Hole) -> None:
        self.items.append(hole)

    def fill(self, serial: int) -> bool:
        """A late record with ``serial`` arrived: shrink or split the hole holding it."""
        for index, hole in enumerate(self.items):
            if hole.lo <= serial <= hole.hi:
                parts = []
                if hole.lo < serial:
                    parts.append(
                        Hole(hole.lo, serial - 1, hole.before, hole.after, hole.seen_ms, hole.boundary)
                    )
                if serial < hole.hi:
                    parts.append(
                        Hole(serial + 1, hole.hi, hole.before, hole.after, hole.seen_ms, hole.boundary)
                    )
                self.items[index : index + 1] = parts
                return True
        return False

    def expired(self, now_ms: int) -> list[Hole]:
        """Holes older than ``REORDER_MS`` of log time: no late record will fill them now."""
        if not self.items or self.items[0].seen_ms + REORDER_MS > now_ms:
            return []
        done = [h for h in self.items if h.seen_ms + REORDER_MS <= now_ms]
        self.items = [h for h in self.items if h.seen_ms + REORDER_MS > now_ms]
        return done

    def drain(self) -> list[Hole]:
        done, self.items = self.items, []
        return done


@dataclass
class Cluster:
    """Findings of one kind close in time (within ``window_ms``), reported as one alarm."""

    first_ms: int
    last_ms: int
    count: int = 0
    items: int = 0
    evidence: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    first_record: Record | None = None


class Clusterer:
    """Collects findings; ``add`` returns the previous cluster when a new one begins."""

    def __init__(self, window_ms: int = 60_000, keep_evidence: int = 6, keep_ranges: int = 10) -> None:
        self.window_ms = window_ms
        self.keep_evidence = keep_evidence
        self.keep_ranges = keep_ranges
        self.current: Cluster | None = None

    def add(
        self,
        at_ms: int,
        count: int,
        record: Record,
        evidence: list[str],
        serial_range: tuple[int, int] | None = None,
    ) -> Cluster | None:
        closed = None
        cur = self.current
        if cur is not None and at_ms - cur.last_ms > self.window_ms:
            closed, cur = cur, None
        if cur is None:
            cur = self.current = Cluster(at_ms, at_ms, first_record=record)
        cur.last_ms = max(cur.last_ms, at_ms)
        cur.count += count
        cur.items += 1
        room = self.keep_evidence - len(cur.evidence)
        if room > 0:
            cur.evidence.extend(evidence[:room])
        if serial_range is not None and len(cur.ranges) < self.keep_ranges:
            cur.ranges.append(serial_range)
        return closed

    def close(self) -> Cluster | None:
        done, self.current = self.current, None
        return done
