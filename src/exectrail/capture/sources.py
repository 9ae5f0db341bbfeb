"""Live record sources: the netlink socket (daemon or multicast) and auditd's plugin stream.

Both read in a thread of their own and hand over raw data; :meth:`poll` decodes it into
:class:`~exectrail.model.Record` objects in the caller's thread. Undecodable input becomes a
counted diagnostic, never an exception.
"""

from __future__ import annotations

import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import BinaryIO, Protocol

from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.netlink.reader import RecordReader
from exectrail.kernel.netlink.wire import AUDIT_REPLACE, NLMSG_HDRLEN
from exectrail.model import Diagnostics, Record
from exectrail.parse.record import MalformedRecord, parse_block, parse_netlink

_TYPE = struct.Struct("=H")
FIRST_RECORD_TYPE = 1100  # below: netlink control messages (replies, acks), not records

Notify = Callable[[str, str], None]  # (kind, message)
# A plugin line longer than this is reported and skipped without being held: the kernel caps a
# record near 9 KB (ENRICHED adds the interpretation), so 1 MiB is far beyond any record.
MAX_LINE_BYTES = 1 << 20
_TOO_LONG = b"(line too long)"  # queued, by identity, in place of an overlong line


class LiveSource(Protocol):
    """Something that yields records as they arrive."""

    @property
    def records(self) -> int: ...

    @property
    def overruns(self) -> int: ...

    def poll(self, timeout: float) -> list[Record]: ...

    @property
    def ended(self) -> bool: ...

    @property
    def error(self) -> str | None:
        """Why the source ended, when it was not a normal end of input."""
        ...

    def close(self) -> None: ...


class NetlinkSource:
    """Records from a NETLINK_AUDIT socket (registered daemon socket or multicast member)."""

    def __init__(self, client: AuditClient, diagnostics: Diagnostics, notify: Notify) -> None:
        self.client = client
        self.diagnostics = diagnostics
        self.notify = notify
        self.reader = RecordReader(client)
        self.records = 0
        self._overruns_seen = 0
        self.reader.start()

    @property
    def overruns(self) -> int:
        return self.reader.overruns

    @property
    def ended(self) -> bool:
        return self.reader.error is not None or not self.reader.is_alive()

    @property
    def error(self) -> str | None:
        if self.reader.error is not None:
            return str(self.reader.error)
        return None if self.reader.is_alive() else "the netlink reader stopped"

    def poll(self, timeout: float) -> list[Record]:
        out: list[Record] = []
        append, unpack_type = out.append, _TYPE.unpack_from
        for datagram in self.reader.take(timeout):
            if len(datagram) < NLMSG_HDRLEN:
                self.diagnostics.add("malformed-message", f"netlink datagram of {len(datagram)} bytes")
                continue
            # one record per datagram; trust its length, not nlmsg_len (see wire.decode_record)
            (msg_type,) = unpack_type(datagram, 4)
            if msg_type < FIRST_RECORD_TYPE:
                continue
            if msg_type == AUDIT_REPLACE:
                self.notify("daemon-replace", "another process tried to register as the audit daemon")
                continue
            try:
                append(parse_netlink(msg_type, datagram[NLMSG_HDRLEN:]))  # it cuts at a NUL itself
            except MalformedRecord as exc:
                self.diagnostics.add(exc.kind, exc.reason)
        self.records += len(out)
        if self.reader.overruns != self._overruns_seen:
            self._overruns_seen = self.reader.overruns
            self.notify("socket-overrun", "the receive buffer overflowed: records were dropped")
        return out

    def close(self) -> None:
        self.reader.stop()


class PluginSource:
    """Records from auditd's plugin stream (``format = string``: one record per line) on a pipe."""

    def __init__(self, stream: BinaryIO, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        self.records = 0
        self.overruns = 0  # a pipe from auditd cannot overrun: auditd queues (and reports) itself
        self.lines = 0
        self._queue: deque[bytes] = deque()
        self._ready = threading.Event()
        self._eof = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(stream,), name="exectrail-plugin-reader", daemon=True
        )
        self._thread.start()

    def _read(self, stream: BinaryIO) -> None:
        overlong = False  # in the middle of a line too long to be a record: skipping to its end
        try:
            while line := stream.readline(MAX_LINE_BYTES):
                if overlong:
                    overlong = not line.endswith(b"\n")
                    continue
                if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
                    overlong = True
                    line = _TOO_LONG
                self._queue.append(line)
                self._ready.set()
        except (OSError, ValueError):
            pass
        self._eof.set()
        self._ready.set()

    @property
    def ended(self) -> bool:
        return self._eof.is_set() and not self._queue

    @property
    def error(self) -> str | None:
        return None  # end of stdin is how auditd says goodbye

    def poll(self, timeout: float) -> list[Record]:
        if not self._queue:
            self._ready.wait(timeout)
        self._ready.clear()
        queue = self._queue
        out: list[Record] = []
        lines: list[bytes] = []
        while queue:
            line = queue.popleft()
            if line is _TOO_LONG:
                out += self._parse(lines)
                lines = []
                self.lines += 1
                reason = f"a line longer than {MAX_LINE_BYTES} bytes: skipped"
                self.diagnostics.add("line-too-long", reason, f"stdin:{self.lines}")
            elif line.strip():
                lines.append(line if line.endswith(b"\n") else line + b"\n")
        out += self._parse(lines)
        self.records += len(out)
        return out

    def _parse(self, lines: list[bytes]) -> list[Record]:
        if not lines:
            return []
        first = self.lines + 1
        self.lines += len(lines)

        def bad(index: int, _line: bytes, error: MalformedRecord) -> None:
            self.diagnostics.add(error.kind, error.reason, f"stdin:{first + index}")

        return parse_block(b"".join(lines), bad)

    def close(self) -> None:
        pass  # the reading thread is a daemon thread; it ends with the stream
