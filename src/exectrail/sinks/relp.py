"""RELP sink: each event one RFC 5424 message in one RELP ``syslog`` command, acknowledged by the receiver.

RELP (the Reliable Event Logging Protocol, rsyslog's ``imrelp``/``omrelp``, librelp doc/relp.md) answers
every command with an ``rsp``: ``200`` means the receiver took the message (with rsyslog's main queue
``Direct``, that its action wrote it). :meth:`RelpSink.send` returns only once every message of the batch
has its ``200``; anything else is a :class:`SinkError` and the forwarder retries the batch from memory
or its spool. The acknowledged prefix of a failed batch is remembered (by event id) and not sent again,
so a retry resends only what the receiver never confirmed.

Up to ``window=`` commands are in flight (default :data:`DEFAULT_WINDOW`, chosen from the measurements
in docs/forwarding.md "RELP"): a receiver stopped between writing a message and acknowledging it gets
at most that many messages twice; the event ``id`` in each JSON body lets a reader drop them. After a
broken connection the rsps still readable are read before deciding what was not acknowledged; the next
session resends those with new, consecutive txnrs (imrelp closes a session whose txnr skips or repeats),
and a session is closed and reopened before its txnr would pass 999,999,999.

Written here rather than taken from PyPI: the only Python client, relppy (0.4, "Alpha"), resends
unacknowledged frames with their old txnr on the same connection, which imrelp's strict txnr sequence
rejects, and keeps its resend buffer in memory only; pyrelp (2014) is Python 2.

URLs (see :data:`KINDS`): ``relp://HOST[:2514]``, ``relp+tls://HOST[:2514]?ca=FILE[&cert=FILE&key=FILE]
[&server_name=NAME]``; both take ``window=`` (1–1024), ``timeout=``, ``facility=`` and ``format=`` as
the syslog sinks do. RELP has no IANA port: 2514 is the one rsyslog's documentation uses.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from collections import deque
from collections.abc import Sequence

from exectrail import __version__
from exectrail.errors import UsageError
from exectrail.sinks import net, relpframe
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.relpframe import Frame, FrameError, FrameReader, encode
from exectrail.sinks.rfc5424 import FACILITY, Rfc5424
from exectrail.sinks.spec import FORMAT, TIMEOUT, Param, SinkKind, SinkSpec

DEFAULT_PORT = 2514
DEFAULT_WINDOW = 8
MAX_WINDOW = 1024
MAX_RSP_DATA = 64 << 10  # an rsp is a status line and a few offers; more is a confused receiver
# Acknowledge the receiver's TCP segments at once: imrelp writes each rsp as its own small segment, and
# with Nagle's algorithm on its side a second rsp waits for our (otherwise delayed, 40 ms) ACK of the
# first: measured, a window of 2 fell from ~50,000 to 44 events/s whenever the client was only reading.
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
OFFERS = b"relp_version=0\nrelp_software=exectrail,%s\ncommands=syslog" % __version__.encode()


def _check_window(spec: SinkSpec, value: str) -> None:
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_WINDOW):
        raise UsageError(f"--sink {spec.display}: window wants a whole number 1..{MAX_WINDOW}, got {value!r}")


WINDOW = Param("window", f"RELP commands in flight, 1..{MAX_WINDOW}", str(DEFAULT_WINDOW), _check_window)


class RelpSink:
    """``relp`` or ``relp+tls`` to one receiver (rsyslog ``imrelp``)."""

    max_txnr = relpframe.MAX_TXNR  # the highest txnr a session uses, for its close (tests lower it)

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self._host, self._port = spec.host, spec.port
        self._where = f"{spec.host}:{spec.port}"
        self._timeout = spec.timeout()
        self.window = int(WINDOW.value(spec))
        self.rfc5424 = Rfc5424(spec)
        self._server_name = spec.params.get(net.SERVER_NAME.name, spec.host)
        self._context = net.tls_context(spec) if spec.scheme == "relp+tls" else None
        self._sock: socket.socket | None = None
        self._reader = FrameReader(MAX_RSP_DATA)
        self._txnr = 1
        self._inflight: deque[int] = deque()  # txnrs sent and not yet answered, oldest first
        self._done = 0  # messages of the current send acknowledged so far
        self._acked: list[str] = []  # ids of the acknowledged prefix of the batch that failed last
        self.sessions = 0  # sessions opened (for tests and status)

    # -- delivery ---------------------------------------------------------------------------
    def send(self, batch: Sequence[Message]) -> int:
        skip = self._acknowledged_prefix(batch)
        done_ids = self._acked[:skip]
        pending = batch[skip:]
        self._done = 0
        try:
            if pending:
                self._deliver([self.rfc5424.encode(message) for message in pending])
        except SinkError:
            self._acked = done_ids + [message.id for message in pending[: self._done]]
            self._disconnect()
            raise
        self._acked = []
        return 0

    def _acknowledged_prefix(self, batch: Sequence[Message]) -> int:
        """How many leading messages of ``batch`` an earlier, failed send already got acknowledged."""
        count = 0
        for acked_id, message in zip(self._acked, batch, strict=False):
            if acked_id != message.id:
                break
            count += 1
        return count

    def _deliver(self, payloads: list[bytes]) -> None:
        """Send every payload as a ``syslog`` command, ``window`` at a time; return when all are acked."""
        total, sent = len(payloads), 0
        try:
            while self._done < total:
                if self._sock is None:
                    self._open_session()
                if self._txnr >= self.max_txnr and not self._inflight:  # the last txnr is close's
                    self._close_session()
                    continue
                chunk = []
                while sent < total and len(self._inflight) < self.window and self._txnr < self.max_txnr:
                    chunk.append(encode(self._txnr, "syslog", payloads[sent]))
                    self._inflight.append(self._txnr)
                    self._txnr += 1
                    sent += 1
                if chunk:
                    self._write(b"".join(chunk))
                self._answer(self._await_frame())
                while self._inflight and (frame := self._read_frame(block=False)) is not None:
                    self._answer(frame)
        except (OSError, ValueError) as exc:
            self._read_leftover_rsps()
            reason = str(exc) if isinstance(exc, FrameError) else net.describe_io_error(exc, self._timeout)
            raise SinkError(f"RELP to {self._where}: {reason}") from None

    def _answer(self, frame: Frame) -> None:
        """Match an rsp to the oldest command in flight; SinkError for anything else."""
        self._check_rsp(frame)
        expected = self._inflight[0]
        status, text, _ = relpframe.parse_rsp(frame.data)
        if status != 200:
            raise SinkError(
                f"RELP to {self._where}: the receiver refused message {expected}: {status} {text}"
            )
        self._inflight.popleft()
        self._done += 1

    def _check_rsp(self, frame: Frame) -> None:
        if frame.command == "serverclose":
            raise SinkError(f"RELP to {self._where}: the receiver closed the session (serverclose)")
        if frame.command != "rsp":
            raise SinkError(f"RELP to {self._where}: unexpected {frame.command!r} command from the receiver")
        expected = self._inflight[0] if self._inflight else None
        if frame.txnr != expected:
            raise SinkError(f"RELP to {self._where}: rsp for txnr {frame.txnr}, expected {expected}")

    def _read_leftover_rsps(self) -> None:
        """After a failure: take the rsps the socket still holds (a receiver that stopped may have
        acknowledged more than was read), so fewer messages are sent twice."""
        with contextlib.suppress(OSError, ValueError, SinkError):
            while self._inflight and (frame := self._read_frame(block=False)) is not None:
                self._answer(frame)

    # -- sessions ---------------------------------------------------------------------------
    def _open_session(self) -> None:
        sock = net.connect(self._host, self._port, self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small commands, answered one by one
        if self._context is not None:
            sock = net.tls_handshake(sock, self._context, self._server_name, self._where, self._timeout)
        self._sock, self._reader, self._inflight, self._txnr = sock, FrameReader(MAX_RSP_DATA), deque(), 1
        self._write(encode(1, "open", OFFERS))
        self._inflight.append(1)
        self._txnr = 2
        frame = self._await_frame()
        self._check_rsp(frame)
        self._inflight.popleft()
        status, text, offers = relpframe.parse_rsp(frame.data)
        if status != 200:
            raise SinkError(f"RELP to {self._where}: the receiver refused the session: {status} {text}")
        if "syslog" not in relpframe.parse_offers(offers).get("commands", []):
            raise SinkError(f"RELP to {self._where}: the receiver does not offer the syslog command")
        self.sessions += 1

    def _close_session(self) -> None:
        """``close`` and its rsp, then the socket (also how a session ends before its txnr wraps)."""
        if self._sock is not None and not self._inflight:
            self._write(encode(self._txnr, "close"))
            self._inflight.append(self._txnr)
            frame = self._await_frame()
            self._check_rsp(frame)
            self._inflight.popleft()
        self._disconnect()

    def _disconnect(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._inflight.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError, SinkError):
            self._close_session()
        self._disconnect()

    # -- socket I/O -------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        assert self._sock is not None
        self._sock.settimeout(self._timeout)
        self._sock.sendall(data)

    def _await_frame(self) -> Frame:
        """The next frame from the receiver, waiting up to the timeout for it."""
        frame = self._read_frame(block=True)
        assert frame is not None
        return frame

    def _read_frame(self, *, block: bool) -> Frame | None:
        """The next frame from the receiver; None when ``block`` is False and none is there yet."""
        sock = self._sock
        if sock is None:
            raise ConnectionResetError(104, "not connected")
        deadline = time.monotonic() + self._timeout
        while True:
            frame = self._reader.next()
            if frame is not None:
                return frame
            if not block and not self._readable(sock):
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(110, "no rsp from the receiver")
            sock.settimeout(left)
            if QUICKACK is not None:  # per read: the kernel leaves quick-ack mode on its own
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            data = sock.recv(1 << 16)
            if not data:
                raise ConnectionResetError(104, "the receiver closed the connection")
            self._reader.feed(data)

    @staticmethod
    def _readable(sock: socket.socket) -> bool:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        return bool(select.select([sock], [], [], 0)[0])


TLS_SYNTAX = "relp+tls://HOST:PORT?ca=FILE[&cert=FILE&key=FILE][&server_name=NAME][&window=N]"
PARAMS = (TIMEOUT, WINDOW, FACILITY, FORMAT)
KINDS = (
    SinkKind("relp", "relp://HOST:PORT[?window=N]", RelpSink, PARAMS, default_port=DEFAULT_PORT),
    SinkKind("relp+tls", TLS_SYNTAX, RelpSink, (*PARAMS, *net.TLS_PARAMS), default_port=DEFAULT_PORT,
             check=net.check_tls_pair),
)  # fmt: skip

__all__ = ["DEFAULT_PORT", "DEFAULT_WINDOW", "KINDS", "WINDOW", "RelpSink"]
