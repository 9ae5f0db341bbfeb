"""The sha256 of the file a process actually executed, taken safely and cached.

:meth:`ExeHasher.hash_process` opens ``/proc/PID/exe`` itself: the kernel hands back the inode that
was executed, even after the file on disk was replaced or deleted (the path is never resolved and
reopened). :meth:`ExeHasher.hash_file` is the fallback for a path once the process is gone; it opens
the path with ``O_PATH | O_NOFOLLOW``, checks it is a regular file, and only then reopens that same
inode for reading, so a FIFO, device or symbolic link planted at the path is never opened.
:meth:`ExeHasher.hash_fd` hashes a file the caller opened; its two halves, :meth:`ExeHasher.lookup`
(``fstat`` checks and the cache, no read) and :meth:`ExeHasher.compute` (the read), let a caller
answer a hit at once and hand a miss to another thread (:mod:`exectrail.enrich.live`).

Hashes are cached per (dev, inode, size, mtime, ctime) in an LRU; a hit returns the hash with the
``hashed_at`` of when it was computed. A file whose size, mtime or ctime moves while it is read is
not hashed (a new write changes mtime and ctime; a hash of half of each is no evidence).

Failures are a :class:`Missing` with a one-word reason, never an exception:

- ``gone``: the process (or, for a path, the file) no longer exists;
- ``replaced``: not the inode the audit record named (the pid exec'd again, or was reused);
- ``too-large``: over the size cap;
- ``unreadable``: permission or I/O error;
- ``not-regular``: not a regular file (a directory, FIFO, device, socket or symbolic link);
- ``changed``: size, mtime or ctime changed while the file was read;
- ``busy``: the hashing queue was full (set by the caller that owns the queue).

``dev`` is written as the kernel writes it in audit PATH records (``MAJOR:MINOR``, ``%02x:%02x``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

GONE: Final = "gone"
REPLACED: Final = "replaced"
TOO_LARGE: Final = "too-large"
UNREADABLE: Final = "unreadable"
NOT_REGULAR: Final = "not-regular"
CHANGED: Final = "changed"
BUSY: Final = "busy"

CHUNK_BYTES: Final = 1 << 20
_GONE_ERRNOS = frozenset({errno.ENOENT, errno.ESRCH})
_NOT_REGULAR_ERRNOS = frozenset({errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.ENODEV})

#: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns): the same bytes, unless a writer hides it
CacheKey = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class ExeHash:
    """The hash of one executable and the file it was taken from (times are aware UTC)."""

    sha256: str
    dev: str
    inode: int
    mtime: datetime
    ctime: datetime
    hashed_at: datetime


@dataclass(frozen=True, slots=True)
class Missing:
    """No hash, and why (one of the reasons in the module docstring)."""

    reason: str


def format_dev(st_dev: int) -> str:
    """``st_dev`` as audit PATH records write it: ``fd:01``, ``00:1f``, ``103:2a``."""
    return f"{os.major(st_dev):02x}:{os.minor(st_dev):02x}"


def parse_dev(text: str) -> tuple[int, int] | None:
    """(major, minor) from ``MAJOR:MINOR`` in hex; None when it is not that."""
    major, sep, minor = text.partition(":")
    if not sep or not major or not minor:
        return None
    try:
        return int(major, 16), int(minor, 16)
    except ValueError:
        return None


def cache_key(st: os.stat_result) -> CacheKey:
    """What the cache keys a hash by: the same (dev, inode) with the same size, mtime and ctime."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _stat_time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000)


def _same_file(st: os.stat_result, expected: tuple[str, int]) -> bool:
    dev, inode = expected
    return inode == st.st_ino and parse_dev(dev) == (os.major(st.st_dev), os.minor(st.st_dev))


def failure(error: OSError) -> str:
    """``gone`` for a process (or file) that no longer exists, else ``unreadable``."""
    return GONE if error.errno in _GONE_ERRNOS else UNREADABLE


def _open_reason(error: OSError) -> str:
    return NOT_REGULAR if error.errno in _NOT_REGULAR_ERRNOS else failure(error)


class ExeHasher:
    """Hash executables by pid or path; thread-safe (the lock guards only the cache).

    ``chunk_bytes`` and ``after_chunk`` (called with the bytes read so far, after each chunk) exist
    for tests that need to act in the middle of a read.
    """

    def __init__(
        self,
        max_bytes: int = 256 << 20,
        cache_entries: int = 4096,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        after_chunk: Callable[[int], None] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.cache_entries = cache_entries
        self.hits = 0
        self.misses = 0
        self._chunk_bytes = chunk_bytes
        self._after_chunk = after_chunk
        self._cache: OrderedDict[CacheKey, ExeHash] = OrderedDict()
        self._lock = threading.Lock()
        self._buffers = threading.local()

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0.0 before the first)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def hash_process(
        self, pid: int, expected: tuple[str, int] | None = None, proc: str = "/proc"
    ) -> ExeHash | Missing:
        """The executed image of ``pid``; ``expected`` is the (dev, inode) of the exec's PATH record."""
        try:
            fd = os.open(f"{proc}/{pid}/exe", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            return Missing(_open_reason(error))
        try:
            return self._hash_fd(fd, expected)
        finally:
            os.close(fd)

    def hash_file(self, path: str, expected: tuple[str, int] | None = None) -> ExeHash | Missing:
        """The regular file at ``path`` (last component not followed); no other kind is opened."""
        try:
            handle = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            return Missing(_open_reason(error))
        try:
            held = os.fstat(handle)
            if not stat.S_ISREG(held.st_mode):
                return Missing(NOT_REGULAR)
            # reopen the inode held, not the path (which may have been swapped meanwhile)
            fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            return Missing(UNREADABLE if error.errno in _GONE_ERRNOS else _open_reason(error))
        finally:
            os.close(handle)
        try:
            return self._hash_fd(fd, expected)
        finally:
            os.close(fd)

    def _hash_fd(self, fd: int, expected: tuple[str, int] | None) -> ExeHash | Missing:
        return self.hash_fd(fd, () if expected is None else (expected,))

    def hash_fd(self, fd: int, expected: Collection[tuple[str, int]] = ()) -> ExeHash | Missing:
        """The file open at ``fd`` (kept open; the caller closes it): :meth:`lookup`, then
        :meth:`compute` on a miss."""
        try:
            before = os.fstat(fd)
        except OSError:
            return Missing(UNREADABLE)
        found = self.lookup(before, expected)
        return self.compute(fd, before) if found is None else found

    def lookup(
        self, st: os.stat_result, expected: Collection[tuple[str, int]] = ()
    ) -> ExeHash | Missing | None:
        """What the ``fstat`` of an open file says without reading it: not regular, not one of the
        ``expected`` (dev, inode) pairs (empty: not checked), over the cap, or the cached hash (a hit);
        None on a miss (then :meth:`compute` reads it). Counts the hit or the miss."""
        if not stat.S_ISREG(st.st_mode):
            return Missing(NOT_REGULAR)
        if expected and not any(_same_file(st, pair) for pair in expected):
            return Missing(REPLACED)
        if st.st_size > self.max_bytes:
            return Missing(TOO_LARGE)
        key = cache_key(st)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
            self.misses += 1
        return None

    def compute(self, fd: int, before: os.stat_result) -> ExeHash | Missing:
        """Read and hash the regular file open at ``fd`` whose ``fstat`` was ``before`` (after a
        :meth:`lookup` that missed), and cache the result; counts nothing. Safe in any thread."""
        key = cache_key(before)
        digest = self._digest(fd, before.st_size)
        if isinstance(digest, Missing):
            return digest
        try:
            after = os.fstat(fd)
        except OSError:
            return Missing(UNREADABLE)
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != key[2:]:
            return Missing(CHANGED)
        found = ExeHash(
            sha256=digest,
            dev=format_dev(before.st_dev),
            inode=before.st_ino,
            mtime=_stat_time(before.st_mtime_ns),
            ctime=_stat_time(before.st_ctime_ns),
            hashed_at=datetime.now(UTC),
        )
        with self._lock:
            self._cache[key] = found
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return found

    def _digest(self, fd: int, size: int) -> str | Missing:
        """sha256 of exactly ``size`` bytes from the start of ``fd``; more or fewer is ``changed``."""
        buffer: bytearray | None = getattr(self._buffers, "buffer", None)
        if buffer is None or len(buffer) != self._chunk_bytes:
            buffer = self._buffers.buffer = bytearray(self._chunk_bytes)
        view = memoryview(buffer)
        sha = hashlib.sha256()
        total = 0
        try:
            with open(fd, "rb", buffering=0, closefd=False) as stream:
                while True:
                    count = stream.readinto(view)
                    if not count:  # EOF (None only for a non-blocking read that would block)
                        break
                    total += count
                    if total > size:  # it grew: no need to read it to the end
                        return Missing(CHANGED)
                    sha.update(view[:count])
                    if self._after_chunk is not None:
                        self._after_chunk(total)
        except OSError:
            return Missing(UNREADABLE)
        return sha.hexdigest() if total == size else Missing(CHANGED)
