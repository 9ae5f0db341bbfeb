"""``jsonl:///PATH``: append one JSON object per line, fsync per batch, rotate by size.

``max_size`` (default 100M) starts a new file once the current one would grow past it; the old ones
become ``PATH.1`` … ``PATH.<keep>`` (default keep=5; the oldest is deleted). A failed write is cut
back to the last complete batch so the file never holds half a line. ``format=ecs`` or ``format=ocsf``
writes exec events and alarms in that schema (the spool keeps exectrail's JSON; heartbeats as they are).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from exectrail.errors import UsageError
from exectrail.output.mapped import body_mapper
from exectrail.safefs import UnsafePathError, open_private
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.spec import FORMAT, Param, SinkKind, SinkSpec, parse_size

ROTATE_SIZE = Param("max_size", "start a new file once the current one would grow past this size", "100M")
KEEP = Param("keep", "how many rotated files to keep (PATH.1 … PATH.KEEP)", "5")


class JsonlSink:
    """Appends messages to a local file."""

    lossy = False

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self.path = Path(spec.path)
        self.max_size = parse_size(ROTATE_SIZE.value(spec), ROTATE_SIZE.name)
        try:
            self.keep = int(KEEP.value(spec))
        except ValueError:
            self.keep = -1
        if self.keep < 0:
            raise UsageError(f"--sink {spec.display}: keep wants a whole number of old files")
        self._fd: int | None = None
        self._size = 0
        self._mapper = body_mapper(FORMAT.value(spec))

    def _open(self) -> int:
        if self._fd is None:
            try:  # 0600, never through a planted link, in a directory only we can write
                self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                self._size = os.fstat(self._fd).st_size
            except UnsafePathError as exc:
                raise SinkError(str(exc)) from None
            except OSError as exc:
                raise SinkError(f"cannot open {self.path}: {exc.strerror}") from None
        return self._fd

    def send(self, batch: Sequence[Message]) -> int:
        mapper = self._mapper
        if mapper is None:
            data = b"".join(m.json + b"\n" for m in batch)
        else:
            data = b"".join(mapper.json(m.body, m.json) + b"\n" for m in batch)
        fd = self._open()
        if self._size and self.max_size and self._size + len(data) > self.max_size:
            self._rotate()
            fd = self._open()
        start = self._size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            self.close()
            raise SinkError(f"cannot write {self.path}: {exc.strerror}") from None
        self._size = start + len(data)
        return 0

    def _rotate(self) -> None:
        self.close()
        try:
            if self.keep == 0:
                self.path.unlink(missing_ok=True)
                return
            Path(f"{self.path}.{self.keep}").unlink(missing_ok=True)
            for n in range(self.keep - 1, 0, -1):
                old = Path(f"{self.path}.{n}")
                if old.exists():
                    old.rename(f"{self.path}.{n + 1}")
            self.path.rename(f"{self.path}.1")
        except OSError as exc:
            raise SinkError(f"cannot rotate {self.path}: {exc.strerror}") from None

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


SYNTAX = f"jsonl:///PATH[?max_size={ROTATE_SIZE.default}&keep={KEEP.default}&format={FORMAT.default}]"
KINDS = (SinkKind("jsonl", SYNTAX, JsonlSink, (ROTATE_SIZE, KEEP, FORMAT)),)

__all__ = ["KEEP", "KINDS", "ROTATE_SIZE", "JsonlSink"]
