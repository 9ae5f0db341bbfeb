"""What /proc says: whether a process runs, its name, command line and executable, every user-space
process (:func:`running_processes`), and the largest pipe the kernel allows. Readers only: a process
that is gone or cannot be read gives None (or False), never an error."""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass

DELETED = " (deleted)"  # how /proc/PID/exe names an executable that was deleted
PF_KTHREAD = 0x00200000
PIPE_MAX_SIZE = "/proc/sys/fs/pipe-max-size"


@dataclass(frozen=True)
class Proc:
    """A running process as /proc shows it; ``exe`` without the `` (deleted)`` suffix."""

    pid: int
    ppid: int
    start_ms: int
    exe: str | None
    deleted: bool
    comm: str
    uid: int | None = None
    cmdline: str = ""


def _read(path: str, limit: int = -1) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _stat_fields(stat: bytes) -> list[bytes]:
    """The fields of ``/proc/PID/stat`` after ``comm`` (which may hold spaces and parentheses)."""
    return stat[stat.rfind(b")") + 2 :].split()


HZ = os.sysconf("SC_CLK_TCK")


def parse_stat(stat: bytes, boot_ms: int, hz: int = HZ) -> tuple[str, int, int] | None:
    """``(state, ppid, start_ms)`` from the text of ``/proc/PID/stat`` (``start_ms``: wall-clock ms,
    from ``boot_ms`` and the start in clock ticks); None when it is not that."""
    fields = _stat_fields(stat)
    try:
        state, ppid, ticks = fields[0].decode("ascii"), int(fields[1]), int(fields[19])
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    if len(state) != 1 or ppid < 0 or ticks < 0:
        return None
    return state, ppid, boot_ms + ticks * 1000 // hz


def split_deleted(target: str) -> tuple[str, bool]:
    """An ``exe`` link's target without the kernel's `` (deleted)`` mark, and whether it had one."""
    return (target[: -len(DELETED)], True) if target.endswith(DELETED) else (target, False)


def pid_alive(pid: int) -> bool:
    """A running process (a zombie - dead, not reaped yet - is not: it cannot receive anything)."""
    if pid <= 0:
        return False
    stat = _read(f"/proc/{pid}/stat")
    return stat is not None and _stat_fields(stat)[:1] != [b"Z"]


def ancestors(pid: int, proc: str = "/proc") -> frozenset[int]:
    """This process and its ancestors up to (not including) init; fewer when one is gone."""
    found = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        stat = _read(f"{proc}/{pid}/stat")
        try:
            pid = int(_stat_fields(stat)[1]) if stat is not None else 0
        except (ValueError, IndexError):
            break
    return frozenset(found)


def process_name(pid: int) -> str | None:
    """The process's ``comm``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def read_cmdline(pid: int, limit: int = -1, proc: str = "/proc") -> bytes | None:
    """The process's arguments, each ended by a NUL (at most ``limit`` bytes); None when it is gone."""
    return _read(f"{proc}/{pid}/cmdline", limit)


BOOT_TIME_TRIES = 20


def boot_time_ms() -> int:
    """When the system booted, in ms since the epoch (CLOCK_BOOTTIME: the base of process start
    times; ``btime`` in /proc/stat is truncated to whole seconds). The wall clock is read between two
    boot-clock reads, keeping the closest pair: preempted between two plain reads (a loaded host),
    this process would move every start time it derives by as long as it waited."""
    best_gap, best = float("inf"), 0.0
    for _ in range(BOOT_TIME_TRIES):
        before = time.clock_gettime(time.CLOCK_BOOTTIME)
        wall = time.time()
        after = time.clock_gettime(time.CLOCK_BOOTTIME)
        if after - before < best_gap:
            best_gap, best = after - before, wall - (before + after) / 2
        if best_gap < 0.001:
            break
    return round(best * 1000)


def read_exe(pid: int, proc: str = "/proc") -> tuple[str | None, bool]:
    """``(exe, deleted)``; exe None for kernel threads, zombies and processes we may not see."""
    try:
        target = os.readlink(f"{proc}/{pid}/exe")
    except OSError:
        return None, False
    return split_deleted(target)


def read_proc(pid: int, boot_ms: int, hz: int, proc: str = "/proc") -> Proc | None:
    """One process, or None when it is gone, a kernel thread or unreadable."""
    stat = _read(f"{proc}/{pid}/stat")
    if stat is None:
        return None
    comm = stat[stat.find(b"(") + 1 : stat.rfind(b")")].decode("utf-8", "replace")
    parsed = parse_stat(stat, boot_ms, hz)
    if parsed is None or int(_stat_fields(stat)[6]) & PF_KTHREAD:
        return None
    exe, deleted = read_exe(pid, proc)
    if exe is None:
        return None
    _, ppid, start_ms = parsed
    try:
        uid: int | None = os.stat(f"{proc}/{pid}").st_uid
    except OSError:
        uid, args = None, None
    else:
        args = read_cmdline(pid, 4096, proc)
    cmdline = "" if args is None else args.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    return Proc(pid, ppid, start_ms, exe, deleted, comm, uid, cmdline)


def running_processes(proc: str = "/proc") -> dict[int, Proc]:
    """Every user-space process visible in ``proc``, by pid."""
    boot_ms = boot_time_ms()
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for name in os.listdir(proc):
        if name.isdigit():
            found = read_proc(int(name), boot_ms, hz, proc)
            if found is not None:
                out[found.pid] = found
    return out


def grow_pipe(fd: int, wanted: int) -> bool:
    """Ask for a pipe buffer of ``wanted`` bytes on ``fd`` (or as large as the kernel allows when that
    is refused); False when ``fd`` is no pipe or nothing was granted."""
    for size in (wanted, pipe_max_size()):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
        except OSError:
            continue
        return True
    return False


def pipe_max_size() -> int:
    """The largest pipe buffer an unprivileged process may ask for (1 MiB, the kernel's default,
    when it cannot be read)."""
    try:
        return int(_read(PIPE_MAX_SIZE) or b"")
    except ValueError:
        return 1 << 20
