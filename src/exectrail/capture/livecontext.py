"""Live capture's context from /proc: the stage between the event builder and the outputs.

Each exec event built live goes to a :class:`~exectrail.enrich.live.LiveEnricher`, which reads at
once what races the process's exit (its cgroup, chosen environment variables, the executed file
through ``/proc/PID/exe``, the parent from /proc) and hashes the file beside the reader. Events come
out in the order they went in, each with its ``cgroup`` … ``env_missing`` filled or, when it could not
be done in time, the reason. Then:

* a process gone before its cgroup could be read inherits its parent's (``cgroup_source`` ``inherited``);
* a parent the stream does not know comes from /proc (``parent.source`` ``proc``, its start time as
  ``time``), and a parent the stream knows is dropped for the /proc one when that pid's running
  process started after the stream's exec of it (the pid was reused since).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from exectrail.enrich.container import CgroupInfo
from exectrail.enrich.context import ContextBuilder, path_inodes
from exectrail.enrich.exehash import ExeHash, ExeHasher
from exectrail.enrich.live import LiveContext, LiveEnricher
from exectrail.enrich.procparent import ProcParent, process_start_ms
from exectrail.jsonform import details_to_json
from exectrail.kernel.procfs import boot_time_ms
from exectrail.model import ExecEvent
from exectrail.timefmt import from_iso, iso, ms_to_time

__all__ = ["LiveContextStage"]

PROC = "proc"
INHERITED = "inherited"
_MAX_CGROUPS = 8192  # exec id -> its cgroup, for children gone before theirs is read
#: a trail parent older than the running process with its pid by more than this was another process
_REUSE_TOLERANCE_MS = 20
_START_TTL = 0.1  # seconds a parent's start time is trusted (see LiveContextStage._reused)
_MAX_STARTS = 4096


class LiveContextStage:
    """Fills the /proc context of live exec events, keeping their order (see the module docstring).

    The stage owns each event from :meth:`add` until it hands it back: nobody else has seen it, so its
    context fields are filled in place (a copy of an event of 48 fields cost more than the rest of
    the stage)."""

    def __init__(
        self,
        context: ContextBuilder,
        env_vars: tuple[str, ...],
        hasher: ExeHasher | None = None,
        queue_size: int = 256,
        deadline: float = 1.0,
    ) -> None:
        self.context = context
        self.hasher = hasher if hasher is not None else ExeHasher()
        self.enricher: LiveEnricher[ExecEvent] = LiveEnricher(
            self.hasher, env_vars, queue_size=queue_size, deadline=deadline
        )
        self._cgroups: dict[str, CgroupInfo] = {}
        self._starts: dict[int, tuple[int | None, float]] = {}  # ppid -> (its start, when read)
        self._boot_ms = boot_time_ms()

    def add(self, events: list[ExecEvent]) -> list[ExecEvent]:
        """Hand these events over; the events ready now, in order."""
        submit, paths = self.enricher.submit, self.context.pop_paths
        for event in events:
            expected = partial(path_inodes, paths(event.exec_id))
            # /proc's parent when the stream does not know it, or knows an exec older than the
            # process that holds the pid now (reused since: that exec was another process's)
            if event.parent is not None and self._reused(event.parent, event.ppid):
                object.__setattr__(event, "parent", None)
                object.__setattr__(event, "parent_exec_id", None)
            submit(event, event.pid, event.ppid, expected, event.parent is None)
        return self.ready()

    def ready(self) -> list[ExecEvent]:
        """The events whose context is complete (or late), in order."""
        return [self._finish(event, found) for event, found in self.enricher.ready()]

    def drain(self, timeout: float) -> list[ExecEvent]:
        """At stop: every event still held, waiting at most ``timeout`` seconds for their hashes."""
        return [self._finish(event, found) for event, found in self.enricher.drain(timeout)]

    def close(self) -> None:
        self.enricher.close()

    def summary(self) -> str:
        """One line: what the /proc stage did (the cache hit rate first) and the process table."""
        s = self.enricher.stats
        table = self.context.table
        return (
            f"context: {s.submitted} execs read from /proc; executable hash cache hit rate "
            f"{100 * s.hit_rate:.1f}% ({s.hits} hits, {s.misses} hashed, {s.joined} joined), {s.busy} busy, "
            f"{s.late} late, {s.gone} gone, {s.replaced} replaced; process table {len(table)} pids, "
            f"{table.evictions} evicted"
        )

    def _reused(self, trail: dict[str, Any], ppid: int | None) -> bool:
        """Whether the process now holding ``ppid`` started after the stream's exec of that pid.

        Its start is read at most every 0.1 s per pid (a storm's children share their parent): a
        pid freed and taken again (the pid space wrapped) by a process whose child then execs, all
        within 0.1 s of the last read, would be missed."""
        if ppid is None or not isinstance(trail.get("time"), str):
            return False
        now = time.monotonic()
        known = self._starts.get(ppid)
        if known is None or now - known[1] >= _START_TTL:
            if len(self._starts) >= _MAX_STARTS:
                self._starts.clear()
            known = self._starts[ppid] = (process_start_ms(ppid, boot_ms=self._boot_ms), now)
        start = known[0]
        return start is not None and start > _ms(trail["time"]) + _REUSE_TOLERANCE_MS

    def _finish(self, event: ExecEvent, found: LiveContext) -> ExecEvent:
        cgroup, source = found.cgroup, PROC
        if cgroup is None and event.parent_exec_id is not None:
            cgroup, source = self._cgroups.get(event.parent_exec_id), INHERITED
        if cgroup is not None and event.exec_id is not None and event.success:
            if len(self._cgroups) >= _MAX_CGROUPS:
                self._cgroups.clear()
            self._cgroups[event.exec_id] = cgroup
        fill = object.__setattr__  # the event is the stage's own until returned (see the class docstring)
        fill(event, "exe_hash", None if found.exe_hash is None else _hash_json(found.exe_hash))
        fill(event, "exe_hash_missing", found.exe_hash_missing)
        fill(event, "env", None if found.env is None else details_to_json(found.env))
        fill(event, "env_missing", found.env_missing)
        if cgroup is not None:
            fill(event, "cgroup", cgroup.cgroup)
            fill(event, "systemd_unit", cgroup.systemd_unit)
            fill(event, "container_id", cgroup.container_id)
            fill(event, "container_runtime", cgroup.runtime)
            fill(event, "cgroup_source", source)
        parent = found.parent
        there = parent is not None and (
            parent.start_ms is None or parent.start_ms <= event.epoch_ms + _REUSE_TOLERANCE_MS
        )
        if parent is not None and there:
            # the running process with the ppid was there at the exec (asked for only when the
            # stream does not know the parent, or knows an exec older than that process)
            fill(event, "parent", _proc_parent_json(parent))
            fill(event, "parent_exec_id", None)
        return event


def _ms(text: str) -> int:
    return int(from_iso(text).timestamp() * 1000)


def _proc_parent_json(parent: ProcParent) -> dict[str, Any]:
    argv = None if parent.argv is None else [a.decode("utf-8", "surrogateescape") for a in parent.argv]
    return details_to_json(
        {
            "exec_id": None,
            "pid": parent.pid,
            "exe": parent.exe,
            "argv": argv,
            "time": None if parent.start_ms is None else iso(ms_to_time(parent.start_ms)),
            "source": PROC,
        }
    )


def _hash_json(found: ExeHash) -> dict[str, Any]:
    return {
        "sha256": found.sha256,
        "dev": found.dev,
        "inode": found.inode,
        "mtime": iso(found.mtime),
        "ctime": iso(found.ctime),
        "hashed_at": iso(found.hashed_at),
    }
