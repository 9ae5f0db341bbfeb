"""exectrail's own process table: what the exec events seen so far say about each pid (issue 14).

An exec event's parent is the process that holds its ``ppid`` *at the time of the exec*. Pids are
reused, so the table keeps each pid's last few execs ordered by their time and answers "the latest
exec of this pid at or before that time": a child whose exec is older than its parent pid's newest
exec gets the older entry, the one that was running then. Events arrive out of time order (an
event's records may come seconds late), so a late, older exec is put in its place, not at the end.

What the table cannot know: a pid that was reused by a process that forked but never exec'd (a
subshell) still shows the last exec of that pid. Live, :func:`still_that_process` checks an entry
against the start time of the process that holds the pid now; from a log there is nothing better.

Bounded: at most ``max_pids`` pids, each with at most ``per_pid`` execs; when full, the pid recorded
least recently is dropped and counted in :attr:`ProcessTable.evictions`.

Speed (Python 3.11, this machine, ``timeit``): one :meth:`~ProcessTable.record` plus one
:meth:`~ProcessTable.lookup`, about 0.7 µs per event on a full table of 65536 pids that evicts on
every record, 0.5 µs when the pids are known already; a ``lookup`` alone 0.25 µs. Far below the
rest of the work per exec event (100k events/s leave 10 µs each).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from typing import NamedTuple

__all__ = ["START_TOLERANCE_MS", "ProcEntry", "ProcessTable", "still_that_process"]

#: How much older than the process's start an exec may look and still be its own (see
#: :func:`still_that_process`).
START_TOLERANCE_MS = 20


class ProcEntry(NamedTuple):
    """One successful exec: pid, when (ms since the epoch, the audit record's time), the event's
    ``exec_id``, exe and argv as the event gave them; ``extra`` is whatever the caller wants kept
    along (not looked at here). A named tuple: one is made per exec, at a third of the cost of a
    frozen dataclass."""

    pid: int
    time_ms: int
    exec_id: str
    exe: str | None
    argv: tuple[bytes, ...] | None
    extra: object = None


def _time(entry: ProcEntry) -> int:
    return entry.time_ms


class ProcessTable:
    """The last ``per_pid`` execs of up to ``max_pids`` pids, each pid's ordered by time."""

    def __init__(self, max_pids: int = 65536, per_pid: int = 4) -> None:
        if max_pids < 1 or per_pid < 1:
            raise ValueError("max_pids and per_pid must be at least 1")
        self.max_pids = max_pids
        self.per_pid = per_pid
        #: pids dropped because the table was full
        self.evictions = 0
        # pid -> its execs, oldest first. Insertion order is recording order (move_to_end on each
        # record, never on lookup), so the first pid is the one recorded least recently.
        self._execs: OrderedDict[int, list[ProcEntry]] = OrderedDict()

    def __len__(self) -> int:
        """How many pids the table knows."""
        return len(self._execs)

    def record(self, entry: ProcEntry) -> None:
        """Remember a successful exec (the caller leaves failed ones out: they replaced nothing).

        The same exec recorded twice (same ``exec_id`` and time) is kept once. When the pid already
        has ``per_pid`` execs, the oldest goes; a late exec older than all of them is not kept.
        """
        execs = self._execs.get(entry.pid)
        if execs is None:
            if len(self._execs) >= self.max_pids:
                self._execs.popitem(last=False)
                self.evictions += 1
            self._execs[entry.pid] = [entry]
            return
        self._execs.move_to_end(entry.pid)
        last = execs[-1]
        if entry.time_ms >= last.time_ms:  # the usual case: in time order
            if entry.time_ms == last.time_ms and entry.exec_id == last.exec_id:
                return
            execs.append(entry)
        else:
            for known in execs:
                if known.time_ms == entry.time_ms and known.exec_id == entry.exec_id:
                    return
            execs.insert(bisect_right(execs, entry.time_ms, key=_time), entry)
        if len(execs) > self.per_pid:
            del execs[0]

    def lookup(self, pid: int, time_ms: int) -> ProcEntry | None:
        """The latest exec of ``pid`` at or before ``time_ms``; None when none is known (also when
        every exec known is later: the pid then belonged to a process the table never saw)."""
        execs = self._execs.get(pid)
        if execs is None:
            return None
        for entry in reversed(execs):
            if entry.time_ms <= time_ms:
                return entry
        return None


def still_that_process(
    entry: ProcEntry, start_ms: int | None, tolerance_ms: int = START_TOLERANCE_MS
) -> bool:
    """Whether ``entry`` can be an exec of the process that holds its pid now, started (forked) at
    ``start_ms`` (ms since the epoch, from ``/proc/PID/stat``); True when the start is unknown.

    An exec always follows its process's fork, so an exec older than the start belongs to an
    earlier process with the same pid. The tolerance covers the clocks: the start comes from the
    boot clock in whole clock ticks (10 ms at ``HZ=100``, rounded down) moved to wall time with
    ``boot_time_ms`` (:mod:`exectrail.kernel.procfs`), which is read now, not at the exec, while
    the audit time is the wall clock at the exec (NTP slewing and steps move the two apart). An
    exec within ``tolerance_ms`` before the start still counts as the process's own: a pid reused
    that quickly -- exit, wrap through the whole pid space and fork again within 20 ms -- is far
    less likely than clock noise of a few ms.
    """
    return start_ms is None or entry.time_ms + tolerance_ms >= start_ms
