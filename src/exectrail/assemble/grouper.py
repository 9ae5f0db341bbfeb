"""Grouping records into events by ``(node, timestamp, serial)``.

Records of concurrent events interleave and the serial can go down between neighbouring lines, so
adjacency means nothing: an event is the set of records that share a key. Whether an event is
complete is decided by what has *arrived* for it, never by its own timestamp (the clock can step
back, an event can carry a future time, and a process stopped inside execve delivers its records
late). An event closes

* on EOE (netlink streams have it; auditd's files do not),
* on PROCTITLE, which the kernel always writes last at syscall exit,
* at once for standalone user-space and daemon records (one record each),
* when it has been idle by arrival: ``idle_records`` records of other events came after its last
  one (real interleaved logs keep an event's records within 150 records of each other), or, live,
  none of its records arrived for ``idle_seconds`` of elapsed time (:meth:`Assembler.expire`),
* when more than ``max_open`` events are open, or their records hold more than ``max_open_bytes``
  (oldest first), or at end of input (:meth:`flush`).

Events closed the last three ways are counted as incomplete. Memory stays bounded on an endless or
hostile stream (one event fed records forever) by ``max_open`` and ``max_open_bytes``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from exectrail.model import Record
from exectrail.parse.types import RECORD_TYPES

STANDALONE_TYPES = frozenset(name for num, name in RECORD_TYPES.items() if 1100 <= num < 1300)
CLOSING_TYPES = frozenset({"PROCTITLE"})
IDLE_RECORDS = 5000
IDLE_SECONDS = 2.0
MAX_OPEN = 4096
MAX_OPEN_BYTES = 256 << 20  # record bodies held in open events (an exec: a few KB, a huge argv MBs)

Group = list[Record]
_NONE: list[Group] = []


@dataclass
class AssemblyStats:
    """Counts of events closed, and of those closed without their last record."""

    events: int = 0
    incomplete: int = 0
    evicted: int = 0


# An open event: [number of the last record fed to it, its records so far, their body bytes]. A
# list, not a class: one is made per event, and feed() is the hottest function of a log read.
_Open = list[Any]  # [int, Group, int]


class Assembler:
    """Feed records in arrival order; closed events come back as lists of records."""

    def __init__(
        self,
        idle_records: int = IDLE_RECORDS,
        idle_seconds: float = IDLE_SECONDS,
        max_open: int = MAX_OPEN,
        max_open_bytes: int = MAX_OPEN_BYTES,
    ) -> None:
        self.idle_records = idle_records
        self.idle_seconds = idle_seconds
        self.max_open = max_open
        self.max_open_bytes = max_open_bytes
        self.stats = AssemblyStats()
        self._open: dict[Hashable, _Open] = {}
        self._fed = 0  # records fed so far: the arrival clock
        self._held = 0  # bytes of record bodies in open events
        self._marks: deque[tuple[float, int]] = deque()  # (clock seconds, records fed by then)

    def __len__(self) -> int:
        return len(self._open)

    def feed(self, record: Record) -> list[Group]:
        """Add one record; return the events that are now complete (usually none or one)."""
        self._fed = fed = self._fed + 1
        node = record.node
        key: Hashable = record.key if node is None else (node, record.key)
        rtype = record.type
        open_ = self._open
        entry = open_.get(key)
        if entry is not None:
            if rtype == "EOE":
                del open_[key]
                self._held -= entry[2]
                return self._close(entry[1], complete=True)
            entry[1].append(record)
            if rtype in CLOSING_TYPES:
                del open_[key]
                self._held -= entry[2]
                return self._close(entry[1], complete=True)
            entry[0] = fed
            size = len(record.body)
            entry[2] += size
            self._held = held = self._held + size
            return _NONE if held <= self.max_open_bytes else self._evict(_NONE)
        if rtype == "EOE":
            return _NONE
        if rtype in CLOSING_TYPES or rtype in STANDALONE_TYPES:
            closed = self._close([record], complete=True)
        else:
            size = len(record.body)
            open_[key] = [fed, [record], size]
            self._held += size
            closed = _NONE
        # _evict's first test, inline: usually the oldest open event is neither idle nor one too many
        oldest = open_[next(iter(open_))] if open_ else None
        if oldest is None or (
            oldest[0] > fed - self.idle_records
            and len(open_) <= self.max_open
            and self._held <= self.max_open_bytes
        ):
            return closed
        return self._evict(closed)

    def expire(self, now_seconds: float) -> list[Group]:
        """Close events none of whose records arrived in the last ``idle_seconds`` by the clock
        ``now_seconds`` (live sources call this when quiet, with ``time.monotonic()``: a clock
        that steps neither back nor forward)."""
        marks = self._marks
        if not marks or marks[-1][1] != self._fed:
            marks.append((now_seconds, self._fed))
        horizon = now_seconds - self.idle_seconds
        arrived_before = 0  # records fed at least idle_seconds ago
        while marks and marks[0][0] <= horizon:
            arrived_before = marks.popleft()[1]
        if arrived_before:
            marks.appendleft((horizon, arrived_before))
        idle = [key for key, entry in self._open.items() if entry[0] <= arrived_before]
        return [self._take(key) for key in idle]

    def flush(self) -> list[Group]:
        """End of input: close every open event (as incomplete)."""
        return [self._take(key) for key in list(self._open)]

    def _take(self, key: Hashable) -> Group:
        """Close the open event ``key`` as incomplete."""
        _, records, size = self._open.pop(key)
        self._held -= size
        return self._close(records, complete=False)[0]

    def _evict(self, closed: list[Group]) -> list[Group]:
        """Close, oldest first, the events idle by arrival and those beyond the memory bounds."""
        open_ = self._open
        horizon = self._fed - self.idle_records
        evicted: list[Group] = []
        while open_:
            first_key = next(iter(open_))
            over = len(open_) > self.max_open or self._held > self.max_open_bytes
            if open_[first_key][0] > horizon and not over:
                break
            if over:
                self.stats.evicted += 1
            evicted.append(self._take(first_key))
        if not evicted:
            return closed
        return evicted + closed

    def _close(self, records: Group, complete: bool) -> list[Group]:
        stats = self.stats
        stats.events += 1
        if not complete:
            stats.incomplete += 1
        return [records]
