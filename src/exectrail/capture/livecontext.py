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

import dataclasses
from typing import Any

from exectrail.enrich.container import CgroupInfo
from exectrail.enrich.context import ContextBuilder
from exectrail.enrich.exehash import ExeHash, ExeHasher
from exectrail.enrich.live import LiveContext, LiveEnricher
from exectrail.enrich.procparent import ProcParent
from exectrail.jsonform import details_to_json
from exectrail.model import ExecEvent
from exectrail.timefmt import from_iso, iso, ms_to_time

__all__ = ["LiveContextStage"]

PROC = "proc"
INHERITED = "inherited"
_MAX_CGROUPS = 8192  # exec id -> its cgroup, for children gone before theirs is read
#: a trail parent older than the running process with its pid by more than this was another process
_REUSE_TOLERANCE_MS = 20


class LiveContextStage:
    """Fills the /proc context of live exec events, keeping their order (see the module docstring)."""

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

    def add(self, events: list[ExecEvent]) -> list[ExecEvent]:
        """Hand these events over; the events ready now, in order."""
        submit, inodes = self.enricher.submit, self.context.pop_inodes
        for event in events:
            submit(event, event.pid, event.ppid, inodes(event.exec_id), True)
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

    def _finish(self, event: ExecEvent, found: LiveContext) -> ExecEvent:
        cgroup, source = found.cgroup, PROC
        if cgroup is None and event.parent_exec_id is not None:
            cgroup, source = self._cgroups.get(event.parent_exec_id), INHERITED
        if cgroup is not None and event.exec_id is not None and event.success:
            if len(self._cgroups) >= _MAX_CGROUPS:
                self._cgroups.clear()
            self._cgroups[event.exec_id] = cgroup
        changes: dict[str, Any] = {
            "exe_hash": None if found.exe_hash is None else _hash_json(found.exe_hash),
            "exe_hash_missing": found.exe_hash_missing,
            "env": None if found.env is None else details_to_json(found.env),
            "env_missing": found.env_missing,
        }
        if cgroup is not None:
            changes.update(
                cgroup=cgroup.cgroup,
                systemd_unit=cgroup.systemd_unit,
                container_id=cgroup.container_id,
                container_runtime=cgroup.runtime,
                cgroup_source=source,
            )
        parent = found.parent
        if (
            parent is not None
            and (parent.start_ms is None or parent.start_ms <= event.epoch_ms + _REUSE_TOLERANCE_MS)
            and (event.parent is None or _reused(event.parent, parent))
        ):  # the running process with the ppid was there at the exec, and the trail's is older
            changes.update(parent=_proc_parent_json(parent), parent_exec_id=None)
        return dataclasses.replace(event, **changes)


def _reused(trail: dict[str, Any], running: ProcParent) -> bool:
    """Whether the process now running with the trail parent's pid started after that exec."""
    if running.start_ms is None or not isinstance(trail.get("time"), str):
        return False
    exec_ms = int(from_iso(trail["time"]).timestamp() * 1000)
    return running.start_ms > exec_ms + _REUSE_TOLERANCE_MS


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
