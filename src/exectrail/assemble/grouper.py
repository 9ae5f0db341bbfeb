"""Grouping records into events by ``(node, timestamp, serial)``.

Records of concurrent events interleave and the serial can go down between neighbouring lines, so
adjacency means nothing: an event is the set of records that share a key. An event closes

* on EOE (netlink streams have it; auditd's files do not),
* on PROCTITLE, which the kernel always writes last at syscall exit,
* at once for standalone user-space and daemon records (one record each),
* when it has been idle: a record of an event more than ``idle_seconds`` newer has been seen,
* when more than ``max_open`` events are open (oldest first), or at end of input (:meth:`flush`).

Events closed the last three ways are counted as incomplete. Memory stays bounded on an endless
stream by ``max_open``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from exectrail.model import Record
from exectrail.parse.types import RECORD_TYPES

STANDALONE_TYPES = frozenset(name for num, name in RECORD_TYPES.items() if 1100 <= num < 1300)
CLOSING_TYPES = frozenset({"PROCTITLE"})

Group = list[Record]
_NONE: list[Group] = []


@dataclass
class AssemblyStats:
    """Counts of events closed, and of those closed without their last record."""

    events: int = 0
    incomplete: int = 0
    evicted: int = 0


# An open event: (seconds of its timestamp, its records so far). A tuple, not a class: one is
# made per event, and feed() is the hottest function of a log read.
_Open = tuple[int, Group]


def _seconds(key: bytes) -> int:
    return int(key[: key.index(b".")])


class Assembler:
    """Feed records in arrival order; closed events come back as lists of records."""

    def __init__(self, idle_seconds: int = 2, max_open: int = 4096) -> None:
        self.idle_seconds = idle_seconds
        self.max_open = max_open
        self.stats = AssemblyStats()
        self._open: dict[Hashable, _Open] = {}
        self._clock = 0

    def __len__(self) -> int:
        return len(self._open)

    def feed(self, record: Record) -> list[Group]:
        """Add one record; return the events that are now complete (usually none or one)."""
        node = record.node
        key: Hashable = record.key if node is None else (node, record.key)
        rtype = record.type
        open_ = self._open
        entry = open_.get(key)
        if entry is not None:
            if rtype == "EOE":
                del open_[key]
                return self._close(entry[1], complete=True)
            entry[1].append(record)
            if rtype in CLOSING_TYPES:
                del open_[key]
                return self._close(entry[1], complete=True)
            return _NONE
        if rtype == "EOE":
            return _NONE
        seconds = _seconds(record.key)
        if rtype in CLOSING_TYPES or rtype in STANDALONE_TYPES:
            closed = self._close([record], complete=True)
        else:
            open_[key] = (seconds, [record])
            closed = _NONE
        if seconds > self._clock:
            self._clock = seconds
        # _evict's first test, inline: usually the oldest open event is neither idle nor one too many
        oldest = open_[next(iter(open_))] if open_ else None
        if oldest is None or (oldest[0] >= self._clock - self.idle_seconds and len(open_) <= self.max_open):
            return closed
        return self._evict(closed)

    def expire(self, now_seconds: int) -> list[Group]:
        """Close events idle by the wall clock ``now_seconds`` (for quiet live streams)."""
        if now_seconds > self._clock:
            self._clock = now_seconds
        return self._evict(_NONE)

    def flush(self) -> list[Group]:
        """End of input: close every open event (as incomplete)."""
        groups = [self._close(records, complete=False)[0] for _, records in self._open.values()]
        self._open.clear()
        return groups

    def _evict(self, closed: list[Group]) -> list[Group]:
        open_ = self._open
        horizon = self._clock - self.idle_seconds
        evicted: list[Group] = []
        while open_:
            first_key = next(iter(open_))
            seconds, records = open_[first_key]
            over = len(open_) > self.max_open
            if seconds >= horizon and not over:
                break
            del open_[first_key]
            if over:
                self.stats.evicted += 1
            evicted.extend(self._close(records, complete=False))
        if not evicted:
            return closed
        return evicted + closed

    def _close(self, records: Group, complete: bool) -> list[Group]:
        stats = self.stats
        stats.events += 1
        if not complete:
            stats.incomplete += 1
        return [records]
