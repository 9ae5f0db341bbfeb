"""A process as ``/proc`` shows it now: its start time, and a parent that exectrail's own process table
does not know (it started before capture, or its exec was lost).

Each process is read through one descriptor of its ``/proc/PID`` directory: every file opened from it
belongs to that process, so a pid reused between two reads makes the later read fail (``gone``)
instead of mixing two processes. Files are opened ``O_NOFOLLOW | O_NONBLOCK`` and read with a cap,
and nothing here raises: a process that is gone or cannot be read gives None.

What a process shows of itself (``cmdline``, which it may overwrite) is information, not evidence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from exectrail.enrich.exehash import GONE, failure
from exectrail.kernel.procfs import boot_time_ms, parse_stat, split_deleted

STAT_LIMIT: Final = 4096  # /proc/PID/stat is one line of ~300 bytes (comm at most 64)
ARGV_LIMIT: Final = 64 * 1024  # the last argument is cut when the command line is longer
_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class ProcParent:
    """A parent read from ``/proc``: ``exe`` without the kernel's `` (deleted)`` mark (``deleted`` says
    it was there), None for a zombie or when it cannot be read; ``argv`` None when empty (a zombie)
    or unreadable; ``start_ms`` wall-clock ms of its start, None when ``stat`` made no sense."""

    pid: int
    exe: str | None
    argv: tuple[bytes, ...] | None
    start_ms: int | None
    deleted: bool = False


def open_process(pid: int, proc: str = "/proc") -> int | str:
    """A descriptor of ``PROC/PID`` (the caller closes it), or why not: ``gone``, ``unreadable``."""
    if pid <= 0:
        return GONE
    try:
        return os.open(f"{proc}/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        return failure(error)


def read_bounded(name: str, limit: int, dir_fd: int | None = None) -> bytes | str:
    """At most ``limit`` bytes of ``name`` (under ``dir_fd``), or why not (``gone``, ``unreadable``).

    A short read ends it: the ``/proc/PID`` files read here give all they have, up to the size asked,
    in one read (``stat`` and ``cgroup`` are single-record seq files; ``environ`` and ``cmdline`` loop
    over the pages), which saves a second system call per file. ``len(result) == limit`` may mean cut.
    """
    try:
        fd = os.open(name, _FLAGS, dir_fd=dir_fd)
    except OSError as error:
        return failure(error)
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            wanted = limit - size
            chunk = os.read(fd, wanted)
            chunks.append(chunk)
            size += len(chunk)
            if len(chunk) < wanted:
                break
    except OSError as error:  # ESRCH: it exited between open and read; EAGAIN: not a /proc file
        return failure(error)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def process_start_ms(pid: int, proc: str = "/proc", boot_ms: int | None = None) -> int | None:
    """When ``pid`` started, in wall-clock ms (as :func:`exectrail.kernel.procfs.read_proc` counts
    it); None when it is gone. ``boot_ms`` defaults to :func:`~exectrail.kernel.procfs.boot_time_ms`."""
    text = read_bounded(f"{proc}/{pid}/stat", STAT_LIMIT) if pid > 0 else GONE
    parsed = (
        parse_stat(text, boot_time_ms() if boot_ms is None else boot_ms) if isinstance(text, bytes) else None
    )
    return parsed[2] if parsed else None


def split_argv(cmdline: bytes) -> tuple[bytes, ...] | None:
    """The arguments of a ``cmdline`` (each ended by a NUL; the last one's NUL may be missing);
    None when empty."""
    if not cmdline:
        return None
    return tuple(cmdline.removesuffix(b"\0").split(b"\0"))


def read_proc_parent(pid: int, proc: str = "/proc", boot_ms: int | None = None) -> ProcParent | None:
    """``pid`` as ``/proc`` shows it now, or None when it is gone (or ``/proc/PID`` cannot be read).

    Whether it is still the parent it was at the exec is the caller's question: a process started
    after its child is a reused pid (compare ``start_ms``)."""
    dir_fd = open_process(pid, proc)
    if isinstance(dir_fd, str):
        return None
    try:
        text = read_bounded("stat", STAT_LIMIT, dir_fd)
        if not isinstance(text, bytes):
            return None
        parsed = parse_stat(text, boot_time_ms() if boot_ms is None else boot_ms)
        try:
            target, deleted = split_deleted(os.readlink("exe", dir_fd=dir_fd))
        except OSError:
            target, deleted = None, False
        cmdline = read_bounded("cmdline", ARGV_LIMIT, dir_fd)
        argv = split_argv(cmdline) if isinstance(cmdline, bytes) else None
        if cmdline == GONE and target is None:
            return None  # reaped between the reads
        return ProcParent(pid, target, argv, parsed[2] if parsed else None, deleted)
    finally:
        os.close(dir_fd)
