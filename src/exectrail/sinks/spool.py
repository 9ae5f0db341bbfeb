"""A sink's disk spool: a directory of batch files replayed oldest first, each signed by exectrail.

Layout of ``SPOOL_DIR/<sink-slug>/`` (mode 0700, checked like every file exectrail writes, see
:mod:`exectrail.safefs`): ``<seq>-<count>.batch`` (a header line, then one JSON message per line;
``seq`` orders batches, ``count`` is the number of messages so the backlog is known without
reading), ``hmac.key`` (32 random bytes, mode 0600, made with ``O_EXCL`` on first use),
``state.json`` (status for ``exectrail status``) and ``lock`` (one process per spool). Files are
written to a temporary name, fsynced and renamed, so a crash never leaves half a batch.

The header is ``#exectrail-batch v1 hmac-sha256=<hex>``: an HMAC-SHA256, keyed by ``hmac.key``, over
the batch's name (``<seq>-<count>``) and its lines. A batch without a valid one, and any other file
in the directory, was not written by this spool: it is reported (:attr:`Spool.rejected`, then the
forwarder's warning and status), never forwarded, and left where it is as evidence. Signatures are
checked when the spool is opened (so the backlog counts only real events) and again before sending.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from exectrail import safefs
from exectrail.output.terminal import terminal_text
from exectrail.sinks.base import Message, SinkError

_BATCH = re.compile(r"(\d{16})-(\d+)\.batch\Z")
KEY_FILE = "hmac.key"
KEY_BYTES = 32
LOCK_FILE = "lock"
HEADER = b"#exectrail-batch v1 hmac-sha256="
HEADER_BYTES = len(HEADER) + 64 + 1
MAX_BATCH_FILE = 256 << 20  # batches hold about 1 MB (one message can be a few MB): never read more
_OURS = {LOCK_FILE, KEY_FILE, "state.json"}


class SpoolFull(Exception):
    """Writing the batch would exceed ``--spool-max``."""


class SpoolRejected(Exception):
    """A batch file that this spool did not write (no valid HMAC); the message says why."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int
    count: int
    size: int
    path: Path


def batch_mac(key: bytes, stem: str, data: bytes) -> str:
    """The hex HMAC-SHA256 of a batch's name (``<seq>-<count>``) and its message lines."""
    mac = hmac.new(key, b"exectrail-batch v1\n" + stem.encode() + b"\n", hashlib.sha256)
    mac.update(data)
    return mac.hexdigest()


class Spool:
    """The spool directory of one sink (``max_bytes`` caps the total size of its batch files).

    ``rejected`` lists, in words, the files found there that are not this spool's own batches.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock_fd = self._dir_fd = -1
        try:
            safefs.secure_dir(directory.parent)  # --spool itself: nobody else may add to it either
            real = safefs.secure_dir(directory)
            self._dir_fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._lock_fd = safefs.open_in(self._dir_fd, directory / LOCK_FILE, LOCK_FILE,
                                           os.O_RDWR | os.O_CREAT)  # fmt: skip
        except OSError as exc:
            self.close()
            raise SinkError(
                f"cannot use spool directory {directory}: {exc.strerror} (choose one with --spool)"
            ) from None
        except BaseException:
            self.close()
            raise
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.close()
            raise SinkError(f"spool directory {directory} is in use by another exectrail process "
                            "(give this one its own --spool)") from None  # fmt: skip
        try:
            self._key = self._load_key()
            self.entries: list[SpoolEntry] = []
            self.rejected: list[str] = []
            self._scan()
        except OSError as exc:
            self.close()
            raise SinkError(f"cannot use spool directory {directory}: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise
        self.entries.sort(key=lambda e: e.seq)
        self.bytes = sum(e.size for e in self.entries)
        self.events = sum(e.count for e in self.entries)
        self._next_seq = self.entries[-1].seq + 1 if self.entries else 1

    def _load_key(self) -> bytes:
        """The spool's HMAC key, made (32 random bytes, 0600, ``O_EXCL``) when there is none yet."""
        path = self.directory / KEY_FILE
        try:
            fd = safefs.open_in(self._dir_fd, path, KEY_FILE, os.O_RDONLY)
        except FileNotFoundError:
            key = os.urandom(KEY_BYTES)
            tmp = f".{KEY_FILE}.tmp"
            self._write_new(tmp, key)
            os.link(tmp, KEY_FILE, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd, follow_symlinks=False)
            os.unlink(tmp, dir_fd=self._dir_fd)
            return key
        with os.fdopen(fd, "rb") as fh:
            if stat.S_IMODE(os.fstat(fh.fileno()).st_mode) & 0o077:
                raise safefs.UnsafePathError(f"{path}: the spool key is readable by others; refused "
                                             "(anyone who reads it can forge spooled events)")  # fmt: skip
            key = fh.read(KEY_BYTES + 1)
        if len(key) != KEY_BYTES:
            raise safefs.UnsafePathError(
                f"{path}: not a spool key ({len(key)} bytes, not {KEY_BYTES}); move it away to start a "
                "new one (the batches signed by the old key are then refused)"
            )
        return key

    def _write_new(self, tmp: str, data: bytes) -> None:
        """Write ``data`` to a new file ``tmp`` (0600, never through a link) and fsync it; a ``tmp``
        left by a write that failed is ours (the directory is private) and is replaced."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=self._dir_fd)
        fd = safefs.open_in(self._dir_fd, self.directory / tmp, tmp, os.O_WRONLY, exclusive=True)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _scan(self) -> None:
        for name in sorted(os.listdir(self._dir_fd)):
            if name in _OURS:
                continue
            st = os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)
            mine = stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
            m = _BATCH.match(name)
            if m and mine and st.st_size > MAX_BATCH_FILE:
                self.reject(
                    self.directory / name, f"{st.st_size} bytes, more than any batch exectrail writes"
                )
            elif m and mine:
                entry = SpoolEntry(int(m[1]), int(m[2]), st.st_size, self.directory / name)
                try:  # checked now, so the backlog counts only what will really be sent
                    self._signed_lines(entry)
                except SpoolRejected as exc:
                    self.rejected.append(str(exc))
                    continue
                self.entries.append(entry)
            elif name.endswith(".tmp") and mine:
                os.unlink(name, dir_fd=self._dir_fd)  # a crash of this spool's writer left it
            else:
                what = "a batch name, but not a regular file of this user" if m else "not a spool file"
                self.reject(self.directory / name, what)

    def reject(self, path: Path, reason: str) -> None:
        """Note a file that is not forwarded (it stays in place as evidence); its name is shown
        escaped (whoever planted it chose it: control characters, bytes that are not UTF-8)."""
        self.rejected.append(f"{terminal_text(str(path))}: {reason}; not forwarded, left in place")

    def next_seq(self) -> int:
        """A new sequence number (memory batches take one too, so spilled batches keep their place)."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def write(self, seq: int, messages: list[Message]) -> int:
        """Store a batch durably, or as much of its beginning as fits under the cap; return how many
        messages were stored. Raise :class:`SpoolFull` (none fit) or ``OSError`` (none written)."""
        entry = self.write_file(seq, messages, self.max_bytes - self.bytes)
        self.add(entry)
        return entry.count

    def write_file(self, seq: int, messages: list[Message], room: int) -> SpoolEntry:
        """Write the longest beginning of ``messages`` that fits in ``room`` bytes to a batch file
        (not yet counted: see :meth:`add`). Raise :class:`SpoolFull` or ``OSError``."""
        size, count = HEADER_BYTES, 0
        for message in messages:
            if size + len(message.json) + 1 > room:
                break
            size += len(message.json) + 1
            count += 1
        if count == 0:
            raise SpoolFull
        messages = messages[:count]
        data = b"".join(m.json + b"\n" for m in messages)
        stem = f"{seq:016d}-{len(messages)}"
        data = HEADER + batch_mac(self._key, stem, data).encode() + b"\n" + data
        name, tmp = f"{stem}.batch", f"{stem}.tmp"
        try:
            self._write_new(tmp, data)
            os.replace(tmp, name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self._dir_fd)
            raise
        return SpoolEntry(seq, len(messages), len(data), self.directory / name)

    def add(self, entry: SpoolEntry) -> None:
        """Count a written batch file in."""
        self.entries.append(entry)
        if len(self.entries) > 1 and self.entries[-2].seq > entry.seq:
            self.entries.sort(key=lambda e: e.seq)
        self.bytes += entry.size
        self.events += entry.count

    def oldest(self) -> SpoolEntry | None:
        return self.entries[0] if self.entries else None

    def read(self, entry: SpoolEntry) -> tuple[list[Message], int]:
        """The messages of a batch file and how many of its lines were unreadable; raise
        :class:`SpoolRejected` when its HMAC is missing or wrong (the file was not written here)."""
        messages: list[Message] = []
        bad = 0
        try:
            body = self._signed_lines(entry)
        except OSError:
            return [], entry.count
        for line in body.splitlines():
            try:
                messages.append(Message.from_json(line))
            except ValueError:
                bad += 1
        return messages, bad

    def _signed_lines(self, entry: SpoolEntry) -> bytes:
        """The message lines of a batch file whose signature holds (else :class:`SpoolRejected`)."""
        try:
            fd = safefs.open_in(self._dir_fd, entry.path, entry.path.name, os.O_RDONLY)
        except safefs.UnsafePathError as exc:
            raise SpoolRejected(f"{exc}; not forwarded, left in place") from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        header, _, body = data.partition(b"\n")
        if not header.startswith(HEADER):
            raise SpoolRejected(f"{entry.path}: no exectrail signature; not forwarded, left in place")
        stem = entry.path.name.removesuffix(".batch")
        if not hmac.compare_digest(header[len(HEADER) :], batch_mac(self._key, stem, body).encode()):
            raise SpoolRejected(
                f"{entry.path}: wrong signature (not written by this spool, or altered); "
                "not forwarded, left in place"
            )
        return body

    def forget(self, entry: SpoolEntry) -> bool:
        """Count a batch out (before deleting its file with :func:`unlink`); False if unknown."""
        if entry not in self.entries:
            return False
        self.entries.remove(entry)
        self.bytes -= entry.size
        self.events -= entry.count
        return True

    def remove(self, entry: SpoolEntry) -> None:
        """Forget a delivered batch and delete its file."""
        self.forget(entry)
        unlink(entry)

    def find(self, seq: int) -> SpoolEntry | None:
        return next((e for e in self.entries if e.seq == seq), None)

    def close(self) -> None:
        for fd in (self._lock_fd, self._dir_fd):
            if fd >= 0:
                os.close(fd)
        self._lock_fd = self._dir_fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unlink(entry: SpoolEntry) -> None:
    """Delete a batch file (already gone is fine)."""
    try:
        entry.path.unlink()
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


__all__ = ["Spool", "SpoolEntry", "SpoolFull", "SpoolRejected", "batch_mac", "unlink"]
