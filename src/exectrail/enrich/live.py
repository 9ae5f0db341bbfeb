"""The ``/proc`` context of exec events, gathered beside the reader during live capture.

:meth:`LiveEnricher.submit` runs in the reader's thread as soon as an exec event is assembled, and
does at once what cannot wait (the process may exit any moment), all through one descriptor of its
``/proc/PID`` directory (a pid reused meanwhile makes the reads fail, never mixes two processes):
its start time (``stat``), the chosen environment variables (``environ``), its cgroup, then it
opens ``exe`` - the inode the kernel executed, even if the path was since replaced or deleted, and
readable after the process exits - and checks it is one the event's PATH records named. The
``exe`` check comes last so that it vouches for the reads before it: a process that exec'd again
(or a reused pid) fails it, and then nothing read is kept (``replaced``). The parent is read too
when the caller asks (its own process table does not know it); a "parent" that started after the
process is a reused pid and is dropped.

A cached hash answers at once; a miss hands the open ``exe`` to one worker thread through a bounded
queue (full: ``busy``, the descriptor closed), and exec storms of one new binary hash it once.
:meth:`LiveEnricher.ready` gives the items back in submit order, holding back those behind a hash
still being computed until its deadline, then releasing it as ``late`` (the hash, when done, only
fills the cache). Nothing raises; what could not be filled is None with a reason: those of
:mod:`~exectrail.enrich.exehash` and :mod:`~exectrail.enrich.environ`, plus ``late``, ``no-pid``
(the event had no pid) and ``malformed`` (a cgroup file with no usable line).

Cost, measured by ``test_the_cost_per_event_on_a_cache_hit`` (2 cores, cgroup v1+v2 hybrid, two
chosen variables, CPython 3.11): submit + ready on a cache hit ~19 us per event, ~29 us with the
parent read too; nearly all of it the ~15 system calls on ``/proc`` (open/read/close of ``stat``,
``environ``, ``cgroup``, ``exe``; ``stat`` alone ~3 us, it is the kernel's costliest). A miss adds
the hash in the worker, off the reader's thread.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from exectrail.enrich.container import READ_LIMIT as CGROUP_LIMIT
from exectrail.enrich.container import CgroupInfo, parse_cgroup
from exectrail.enrich.environ import DEFAULT_ENV_VARS, environ_keys, read_environ_at
from exectrail.enrich.exehash import (
    BUSY,
    GONE,
    REPLACED,
    UNREADABLE,
    ExeHash,
    ExeHasher,
    Missing,
    cache_key,
    failure,
)
from exectrail.enrich.procparent import STAT_LIMIT, ProcParent, open_process, read_bounded, read_proc_parent
from exectrail.kernel.procfs import boot_time_ms, parse_stat

LATE: Final = "late"
NO_PID: Final = "no-pid"
MALFORMED: Final = "malformed"
_EXE_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC  # exe is the kernel's link: followed
_CGROUP_MEMO: Final = 1024

T = TypeVar("T")

#: the (dev, inode) pairs an event's PATH records name, or a function that gives them (worked out only
#: when the process is still there to be checked)
Expected = Collection[tuple[str, int]] | Callable[[], Collection[tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class LiveContext:
    """What ``/proc`` said about one exec; each value None has its reason beside it. ``parent`` only
    when asked; ``start_ms`` the exec'ing process's start (wall-clock ms), for pid-reuse checks."""

    cgroup: CgroupInfo | None
    cgroup_missing: str | None
    env: dict[str, str] | None
    env_missing: str | None
    exe_hash: ExeHash | None
    exe_hash_missing: str | None
    parent: ProcParent | None
    start_ms: int | None


@dataclass(slots=True)
class LiveStats:
    """Counts since the start: ``hits`` answered from the cache, ``misses`` handed to the worker
    (``joined`` of them: the same file was already being hashed), ``busy`` queue full, ``late``
    released before their hash, ``gone`` processes gone before submit, ``replaced`` failed checks."""

    submitted: int = 0
    hits: int = 0
    misses: int = 0
    joined: int = 0
    busy: int = 0
    late: int = 0
    gone: int = 0
    replaced: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over hash lookups (0.0 before the first)."""
        lookups = self.hits + self.misses + self.busy
        return self.hits / lookups if lookups else 0.0


class _Slot(Generic[T]):
    """One submitted item: done (``context`` set) or waiting for its hash (``result`` set by the
    worker; ``partial`` holds the rest)."""

    __slots__ = ("context", "deadline", "item", "partial", "result")

    def __init__(self, item: T, context: LiveContext | None, partial: LiveContext | None = None) -> None:
        self.item = item
        self.context = context
        self.partial = partial
        self.result: ExeHash | Missing | None = None
        self.deadline = 0.0


_Job = tuple[int, os.stat_result, tuple[int, int, int, int, int]]


class LiveEnricher(Generic[T]):
    """Gathers the ``/proc`` context of exec events; ``submit``/``ready``/``drain``/``close`` belong
    to one thread (the reader's), the worker only hashes and fills ``hasher``'s cache."""

    def __init__(
        self,
        hasher: ExeHasher,
        env_vars: Collection[str] = DEFAULT_ENV_VARS,
        queue_size: int = 256,
        deadline: float = 1.0,
        proc: str = "/proc",
    ) -> None:
        self.hasher = hasher
        self.deadline = deadline
        self.proc = proc
        self.stats = LiveStats()
        self._keys = environ_keys(env_vars)
        self._boot_ms = boot_time_ms()
        self._slots: deque[_Slot[T]] = deque()
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, queue_size))
        self._inflight: dict[tuple[int, int, int, int, int], list[_Slot[T]]] = {}
        self._cond = threading.Condition(threading.Lock())  # guards _inflight and the slots' results
        self._cgroups: dict[bytes, CgroupInfo | None] = {}
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="exectrail-exehash", daemon=True)
        self._worker.start()

    def __enter__(self) -> LiveEnricher[T]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def submit(
        self,
        item: T,
        pid: int | None,
        ppid: int | None,
        expected: Expected,
        want_parent: bool,
    ) -> None:
        """Read what ``/proc`` has on ``pid`` now; ``expected`` the (dev, inode) pairs of the event's
        PATH records (empty: unknown, not checked). The item comes back from :meth:`ready`."""
        self.stats.submitted += 1
        if pid is None or pid <= 0:
            parent = self._parent(ppid, None) if want_parent else None
            self._slots.append(
                _Slot(item, LiveContext(None, NO_PID, None, NO_PID, None, NO_PID, parent, None))
            )
            return
        dir_fd = open_process(pid, self.proc)
        if isinstance(dir_fd, str):
            self.stats.gone += dir_fd == GONE
            parent = self._parent(ppid, None) if want_parent else None
            self._slots.append(
                _Slot(item, LiveContext(None, dir_fd, None, dir_fd, None, dir_fd, parent, None))
            )
            return
        try:
            stat = read_bounded("stat", STAT_LIMIT, dir_fd)
            parsed = parse_stat(stat, self._boot_ms) if isinstance(stat, bytes) else None
            start_ms = parsed[2] if parsed else None
            env, env_missing = read_environ_at(dir_fd, self._keys)
            cgroup, cgroup_missing = self._cgroup(dir_fd)
            found = self._open_exe(dir_fd, expected)
        finally:
            os.close(dir_fd)
        if found == Missing(REPLACED):
            self.stats.replaced += 1
            cgroup, cgroup_missing, env, env_missing = None, REPLACED, None, REPLACED
        elif found == Missing(GONE) and env_missing == GONE:
            self.stats.gone += 1
        parent = self._parent(ppid, start_ms) if want_parent else None
        if not isinstance(found, tuple):
            self.stats.hits += isinstance(found, ExeHash)
            context = _context(cgroup, cgroup_missing, env, env_missing, found, parent, start_ms)
            self._slots.append(_Slot(item, context))
            return
        partial = LiveContext(cgroup, cgroup_missing, env, env_missing, None, None, parent, start_ms)
        slot = _Slot(item, None, partial)
        slot.deadline = time.monotonic() + self.deadline
        self._slots.append(slot)
        self._hand_over(slot, *found)

    def _open_exe(self, dir_fd: int, expected: Expected) -> ExeHash | Missing | tuple[int, os.stat_result]:
        """The checked, cached answer for the executed file, or on a miss its open descriptor (which
        the caller then owns) and ``fstat``."""
        try:
            fd = os.open("exe", _EXE_FLAGS, dir_fd=dir_fd)
        except OSError as error:
            return Missing(failure(error))
        try:
            st = os.fstat(fd)
            found = self.hasher.lookup(st, expected() if callable(expected) else expected)
        except OSError:
            found = Missing(UNREADABLE)
        if found is not None:
            os.close(fd)
            return found
        return fd, st

    def _hand_over(self, slot: _Slot[T], fd: int, st: os.stat_result) -> None:
        """Queue the hash of ``fd`` (which the worker closes), or join the same file's queued hash."""
        key = cache_key(st)
        with self._cond:
            waiting = self._inflight.get(key)
            if waiting is not None:
                waiting.append(slot)
                self.stats.misses += 1
                self.stats.joined += 1
                os.close(fd)
                return
            if not self._closed:
                try:
                    self._jobs.put_nowait((fd, st, key))
                except queue.Full:
                    pass
                else:
                    self._inflight[key] = [slot]
                    self.stats.misses += 1
                    return
        os.close(fd)
        self.stats.busy += 1
        slot.result = Missing(BUSY)

    def _cgroup(self, dir_fd: int) -> tuple[CgroupInfo | None, str | None]:
        text = read_bounded("cgroup", CGROUP_LIMIT, dir_fd)
        if not isinstance(text, bytes):
            return None, text
        if len(text) >= CGROUP_LIMIT:  # a line cut by the cap is dropped
            text = text[: text.rfind(b"\n") + 1]
        try:
            info = self._cgroups[text]
        except KeyError:
            if len(self._cgroups) >= _CGROUP_MEMO:
                self._cgroups.clear()
            info = self._cgroups[text] = parse_cgroup(text)
        return (info, None) if info is not None else (None, MALFORMED)

    def _parent(self, ppid: int | None, child_start_ms: int | None) -> ProcParent | None:
        if ppid is None or ppid <= 0:
            return None
        parent = read_proc_parent(ppid, self.proc, self._boot_ms)
        if parent is None or (
            parent.start_ms is not None and child_start_ms is not None and parent.start_ms > child_start_ms
        ):
            return None  # gone, or its pid reused by a process younger than the child
        return parent

    def ready(self) -> list[tuple[T, LiveContext]]:
        """The items done, in submit order: up to the first whose hash is still being computed, unless
        its deadline has passed (then it goes with ``exe_hash_missing`` = ``late``)."""
        out: list[tuple[T, LiveContext]] = []
        slots = self._slots
        now = 0.0
        while slots:
            slot = slots[0]
            context = slot.context
            if context is None:
                result = slot.result
                if result is None:
                    now = now or time.monotonic()
                    if now < slot.deadline:
                        break
                    result = Missing(LATE)
                    self.stats.late += 1
                context = _complete(slot.partial, result)
            slots.popleft()
            out.append((slot.item, context))
        return out

    def drain(self, timeout: float) -> list[tuple[T, LiveContext]]:
        """Everything submitted, at stop: waits at most ``timeout`` seconds for the hashes under way,
        then gives what is still missing as ``late``."""
        end = time.monotonic() + timeout
        with self._cond:
            while any(s.context is None and s.result is None for s in self._slots):
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        out = self.ready()
        for slot in self._slots:
            result = slot.result
            if result is None:
                result = Missing(LATE)
                self.stats.late += 1
            out.append((slot.item, slot.context or _complete(slot.partial, result)))
        self._slots.clear()
        return out

    def close(self) -> None:
        """Stop the worker and close the descriptors still queued (their items go ``late``)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                os.close(job[0])
                with self._cond:
                    self._inflight.pop(job[2], None)
        self._jobs.put(None)
        self._worker.join(timeout=5.0)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fd, st, key = job
            try:
                result = self.hasher.compute(fd, st)
            except Exception:  # a bug must not stop the worker: the item goes unreadable, not lost
                result = Missing(UNREADABLE)
            finally:
                os.close(fd)
            with self._cond:
                for slot in self._inflight.pop(key, ()):
                    slot.result = result
                self._cond.notify_all()


def _context(
    cgroup: CgroupInfo | None,
    cgroup_missing: str | None,
    env: dict[str, str] | None,
    env_missing: str | None,
    found: ExeHash | Missing,
    parent: ProcParent | None,
    start_ms: int | None,
) -> LiveContext:
    if isinstance(found, ExeHash):
        return LiveContext(cgroup, cgroup_missing, env, env_missing, found, None, parent, start_ms)
    return LiveContext(cgroup, cgroup_missing, env, env_missing, None, found.reason, parent, start_ms)


def _complete(partial: LiveContext | None, result: ExeHash | Missing) -> LiveContext:
    assert partial is not None
    p = partial
    return _context(p.cgroup, p.cgroup_missing, p.env, p.env_missing, result, p.parent, p.start_ms)
