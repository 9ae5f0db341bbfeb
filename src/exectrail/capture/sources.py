"""Live record sources: the netlink socket (daemon or multicast) and auditd's plugin stream.

Both read in a thread of their own and hand over raw data; :meth:`poll` decodes it into
:class:`~exectrail.model.Record` objects in the caller's thread. Undecodable input becomes a
counted diagnostic, never an exception.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import BinaryIO, Protocol

from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.netlink.reader import RecordReader
from exectrail.kernel.netlink.wire import AUDIT_REPLACE, NLMSG_HDRLEN
from exectrail.kernel.procfs import grow_pipe
from exectrail.model import Diagnostics, Record
from exectrail.parse.logfile import BlockParser, LineBlocks
from exectrail.parse.record import MalformedRecord, parse_netlink

_TYPE = struct.Struct("=H")
FIRST_RECORD_TYPE = 1100  # below: netlink control messages (replies, acks), not records

Notify = Callable[[str, str], None]  # (kind, message)
#: The pipe the plugin reader asks for: room for a burst of records while it sleeps.
PIPE_BYTES = 1 << 20
#: after a read, let the next lines gather in the pipe: one wake-up per batch, not per record (it
#: bounds the added latency; 1 MiB of pipe holds ~900 execs of 1.2 KB, the bench log's average)
BATCH_DELAY = 0.005


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
    """Records from auditd's plugin stream (``format = string``: one record per line) on a pipe.

    A thread reads what the pipe holds and cuts it into blocks of whole lines the way log files are
    read (:class:`~exectrail.parse.logfile.LineBlocks`: a line longer than any record is skipped,
    never held whole); after each block it lets the next lines gather in the pipe for
    :data:`BATCH_DELAY` (the pipe is grown to hold them), so a storm of execs costs one wake-up per
    batch instead of one per record, as the netlink reader does. :meth:`poll` parses the blocks.
    ``lines`` counts the lines read; diagnostics name a line as ``stdin:N``.
    """

    def __init__(self, stream: BinaryIO, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        self.records = 0
        self.overruns = 0  # a pipe from auditd cannot overrun: auditd queues (and reports) itself
        self._parser = BlockParser("stdin", diagnostics)
        self._queue: deque[bytes | int] = deque()
        self._ready = threading.Event()
        self._eof = threading.Event()
        with contextlib.suppress(OSError, ValueError):  # (not a pipe, or no file at all: no matter)
            grow_pipe(stream.fileno(), PIPE_BYTES)
        self._thread = threading.Thread(
            target=self._read, args=(stream,), name="exectrail-plugin-reader", daemon=True
        )
        self._thread.start()

    def _read(self, stream: BinaryIO) -> None:
        append, ready, sleep = self._queue.append, self._ready, time.sleep
        read = stream.read1 if hasattr(stream, "read1") else stream.read  # read1: what the pipe holds
        try:
            for block in LineBlocks(read):
                append(block)
                ready.set()
                sleep(BATCH_DELAY)
        except (OSError, ValueError):
            pass  # a closed or broken stream ends the input like its end does
        finally:
            self._eof.set()
            ready.set()

    @property
    def ended(self) -> bool:
        return self._eof.is_set() and not self._queue

    @property
    def error(self) -> str | None:
        return None  # end of stdin is how auditd says goodbye

    @property
    def lines(self) -> int:
        """The lines read so far."""
        return self._parser.lines

    def poll(self, timeout: float) -> list[Record]:
        if not self._queue:
            self._ready.wait(timeout)
        self._ready.clear()
        queue, parse = self._queue, self._parser.parse
        out: list[Record] = []
        while queue:
            out += parse(queue.popleft())
        self.records += len(out)
        return out

    def close(self) -> None:
        pass  # the reading thread is a daemon thread; it ends with the stream
