"""A sink's disk spool: a directory of batch files replayed oldest first.

Layout of ``SPOOL_DIR/<sink-slug>/``: ``<seq>-<count>.batch`` (one JSON message per line; ``seq``
orders batches, ``count`` is the number of messages so the backlog is known without reading),
``state.json`` (status for ``exectrail status``) and ``lock`` (one process per spool). Files are
written to a temporary name, fsynced and renamed, so a crash never leaves half a batch.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

from exectrail.sinks.base import Message, SinkError

_BATCH = re.compile(r"(\d{16})-(\d+)\.batch\Z")


class SpoolFull(Exception):
    """Writing the batch would exceed ``--spool-max``."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int
    count: int
    size: int
    path: Path


class Spool:
    """The spool directory of one sink (``max_bytes`` caps the total size of its batch files)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock_fd = -1
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SinkError(
                f"cannot use spool directory {directory}: {exc.strerror} (choose one with --spool)"
            ) from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise SinkError(f"spool directory {directory} is in use by another exectrail process "
                            "(give this one its own --spool)") from None  # fmt: skip
        self.entries: list[SpoolEntry] = []
        for path in directory.iterdir():
            m = _BATCH.match(path.name)
            if m:
                self.entries.append(SpoolEntry(int(m[1]), int(m[2]), path.stat().st_size, path))
            elif path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
        self.entries.sort(key=lambda e: e.seq)
        self.bytes = sum(e.size for e in self.entries)
        self.events = sum(e.count for e in self.entries)
        self._next_seq = self.entries[-1].seq + 1 if self.entries else 1

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
        size = count = 0
        for message in messages:
            if size + len(message.json) + 1 > room:
                break
            size += len(message.json) + 1
            count += 1
        if count == 0:
            raise SpoolFull
        messages = messages[:count]
        data = b"".join(m.json + b"\n" for m in messages)
        path = self.directory / f"{seq:016d}-{len(messages)}.batch"
        tmp = path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return SpoolEntry(seq, len(messages), len(data), path)

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
        """The messages of a batch file and how many of its lines were unreadable."""
        messages: list[Message] = []
        bad = 0
        try:
            data = entry.path.read_bytes()
        except OSError:
            return [], entry.count
        for line in data.splitlines():
            try:
                messages.append(Message.from_json(line))
            except ValueError:
                bad += 1
        return messages, bad

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
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def unlink(entry: SpoolEntry) -> None:
    """Delete a batch file (already gone is fine)."""
    try:
        entry.path.unlink()
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


__all__ = ["Spool", "SpoolEntry", "SpoolFull", "unlink"]
