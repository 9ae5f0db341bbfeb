"""Cross-checking the running processes (/proc) against the exec events of the trail.

A process whose executable differs from its parent's got there by an exec. If it started while the
trail was being recorded, that exec must be in the trail -- in its own pid, or (for a fork that did
not exec, e.g. a daemon that forked twice) in a process that ran the same executable before it
started and is its ancestor or has since exited. When it is not, the exec was lost or escaped the
rules (``execveat`` without a rule, a kernel that dropped events): ``unrecorded-exec``, certain
when the executable appears nowhere in the trail, suspicious otherwise. Independently, a running
process whose executable was deleted or lives in ``memfd:``, ``/dev/shm``, ``/tmp`` or ``/var/tmp``
is ``suspicious-exe`` (package upgrades also leave deleted executables running).

The processes are read by :func:`exectrail.kernel.procfs.running_processes`; their start times come
from ``/proc/PID/stat`` (clock ticks since boot, 10 ms) and the boot time (``CLOCK_BOOTTIME``):
matching an exec event to a process allows ``TOLERANCE_MS``. Only processes started after
monitoring began (the procmon rules added, or the first exec event) are judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exectrail.interference import kinds
from exectrail.kernel.procfs import DELETED, Proc
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm, ExecEvent
from exectrail.timefmt import format_duration, iso, ms_to_time

TOLERANCE_MS = 2000  # exec event vs process start (clock ticks, clock steps)
START_MARGIN_MS = 50  # a process that started this close to when monitoring began is not judged
SCRATCH_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/")


@dataclass
class ExecIndex:
    """Successful exec events by pid and by executable; the span of the trail."""

    by_pid: dict[int, list[tuple[int, str | None]]] = field(default_factory=dict)
    by_exe: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # exe -> [(time, pid)]
    first_ms: int | None = None
    last_ms: int | None = None
    events: int = 0

    def add(self, pid: int, exe: str | None, when_ms: int) -> None:
        self.events += 1
        self.by_pid.setdefault(pid, []).append((when_ms, exe))
        if exe is not None:
            self.by_exe.setdefault(exe, []).append((when_ms, pid))
        self.first_ms = when_ms if self.first_ms is None else min(self.first_ms, when_ms)
        self.last_ms = when_ms if self.last_ms is None else max(self.last_ms, when_ms)

    @classmethod
    def from_events(cls, events: Iterable[ExecEvent]) -> ExecIndex:
        return cls.from_rows(
            (event.pid, event.exe, event.epoch_ms)
            for event in events
            if event.success and event.pid is not None
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str | None, int]]) -> ExecIndex:
        """From ``(pid, exe, time_ms)`` of successful execs."""
        index = cls()
        for pid, exe, when_ms in rows:
            index.add(pid, exe, when_ms)
        return index


@dataclass
class CheckResult:
    """Alarms and the counts for the summary line."""

    alarms: list[Alarm] = field(default_factory=list)
    checked: int = 0
    forks: int = 0
    matched: int = 0
    before: int = 0
    after: int = 0


def check_processes(
    procs: dict[int, Proc],
    index: ExecIndex,
    since_ms: int | None = None,
    until_ms: int | None = None,
    host: str | None = None,
    skip: frozenset[int] = frozenset(),
) -> CheckResult:
    """Compare ``procs`` with ``index`` over [since, until] (default: the span of the trail)."""
    result = CheckResult()
    since = since_ms if since_ms is not None else index.first_ms
    until = until_ms if until_ms is not None else index.last_ms
    for proc in sorted(procs.values(), key=lambda p: p.start_ms):
        if proc.pid in skip:
            continue
        odd = _odd_exe(proc)
        if odd is not None:
            result.alarms.append(_alarm(kinds.SUSPICIOUS_EXE, proc, odd, SUSPICIOUS, host, {}))
        if since is None or until is None or proc.start_ms < since + START_MARGIN_MS:
            result.before += 1
            continue
        if proc.start_ms > until:
            result.after += 1
            continue
        result.checked += 1
        parent = procs.get(proc.ppid)
        if parent is not None and parent.exe == proc.exe:
            result.forks += 1
            continue
        if _recorded(proc, procs, index):
            result.matched += 1
            continue
        seen = proc.exe is not None and proc.exe in index.by_exe
        why = (
            f"running process {proc.pid} ({proc.exe}, started {iso(ms_to_time(proc.start_ms))}) was exec'd "
            "while the trail was recorded, but no exec event shows it"
        )
        why += (
            ": that executable was run by others, not by this process or its ancestors"
            if seen
            else ": that executable appears nowhere in the trail (lost event, or an exec the rules miss)"
        )
        parent_exe = parent.exe if parent is not None else None
        result.alarms.append(
            _alarm(
                kinds.UNRECORDED_EXEC,
                proc,
                why,
                SUSPICIOUS if seen else CERTAIN,
                host,
                {"parent_exe": parent_exe},
            )
        )
    return result


def _recorded(proc: Proc, procs: dict[int, Proc], index: ExecIndex) -> bool:
    """An exec event of this exe by this pid since it started, or by an ancestor / a gone process
    before it started (a fork of an exec'd program)."""
    for when, exe in index.by_pid.get(proc.pid, ()):
        if when >= proc.start_ms - TOLERANCE_MS and exe == proc.exe:
            return True
    if proc.exe is None:
        return False
    ancestors: set[int] = set()
    current = procs.get(proc.ppid)
    while current is not None and current.pid not in ancestors and len(ancestors) < 256:
        ancestors.add(current.pid)
        current = procs.get(current.ppid)
    for when, pid in index.by_exe.get(proc.exe, ()):
        if when <= proc.start_ms + TOLERANCE_MS and (pid in ancestors or pid not in procs):
            return True
    return False


def _odd_exe(proc: Proc) -> str | None:
    exe = proc.exe or ""
    if exe.startswith("/memfd:"):
        return f"process {proc.pid} ({proc.comm}) runs from an anonymous memory file ({exe})"
    if proc.deleted:
        return f"process {proc.pid} ({proc.comm}) runs an executable that was deleted ({exe})"
    if exe.startswith(SCRATCH_DIRS):
        return f"process {proc.pid} ({proc.comm}) runs an executable from a scratch directory ({exe})"
    return None


def _alarm(
    kind: str, proc: Proc, summary: str, certainty: str, host: str | None, extra: dict[str, object]
) -> Alarm:
    age = format_duration(max(int(datetime.now(UTC).timestamp() * 1000) - proc.start_ms, 0))
    details: dict[str, object] = {
        "pid": proc.pid,
        "ppid": proc.ppid,
        "exe": proc.exe,
        "deleted": proc.deleted,
        "comm": proc.comm,
        "uid": proc.uid,
        "started": iso(ms_to_time(proc.start_ms)),
        "age": age,
        **extra,
    }
    shown = proc.cmdline if len(proc.cmdline) <= 200 else proc.cmdline[:200] + "…"
    exe = f"{proc.exe}{DELETED if proc.deleted else ''}"
    evidence = (f"/proc/{proc.pid}: exe={exe} ppid={proc.ppid} cmdline={shown!r}",)
    return Alarm(kind, ms_to_time(proc.start_ms), summary, certainty, host, details, evidence)
