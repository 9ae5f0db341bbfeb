"""Syslog sinks: RFC 5424 messages over TCP or TLS with octet-counting framing (RFC 6587), or UDP.

Each message is ``<PRI>1 TIME HOST exectrail PID TYPE - JSON``: the timestamp is the event's, HOST
is the forwarded ``host``, MSGID the message type (``exec``, later ``alarm``/``heartbeat``) and the
body the whole event as one line of JSON (argv complete; non-UTF-8 arguments also as ``argv_hex``).
Receivers must accept messages as large as the largest event (rsyslog: ``global(maxMessageSize="8m")``).

Delivery over TCP/TLS counts only once the peer's TCP stack has acknowledged every byte (the
socket's unacknowledged-output counter is zero). An acknowledgement is not proof that the receiving
program read the data, so after a broken connection the last few megabytes already acknowledged are
sent again first (receivers de-duplicate by ``id``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import select
import socket
import ssl
import struct
import termios
import time
from collections import deque
from collections.abc import Sequence

from exectrail.errors import UsageError
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.url import SinkSpec

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}  # fmt: skip
SEVERITY = {"alarm": 2}  # crit; everything else is info (6)
MAX_UDP = 65507
REPLAY_BYTES = 4 << 20
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)\Z")
_UNPRINTABLE = re.compile(rb"[^\x21-\x7e]")


def header_token(value: object, limit: int) -> bytes:
    """A header field: printable US-ASCII without spaces, at most ``limit`` bytes, or ``-``."""
    if not isinstance(value, str) or not value:
        return b"-"
    return _UNPRINTABLE.sub(b"_", value.encode("utf-8", "replace"))[:limit]


class SyslogSink:
    """``syslog+tcp``, ``syslog+tls`` or ``syslog+udp`` to one receiver."""

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self.transport = spec.scheme.partition("+")[2]
        self.lossy = self.transport == "udp"
        self.refused_reason = "too large for a UDP datagram"
        self._address = (spec.host, spec.port)
        self._timeout = spec.timeout()
        facility = spec.params.get("facility", "authpriv")
        if facility not in FACILITIES:
            raise UsageError(f"--sink {spec.display}: unknown facility {facility!r}")
        self._facility = FACILITIES[facility] * 8
        self._server_name = spec.params.get("server_name", spec.host)
        self._context = tls_context(spec) if self.transport == "tls" else None
        self._sock: socket.socket | None = None
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
        self._procid = str(os.getpid()).encode()
        self._hosts: dict[object, bytes] = {}

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, message: Message) -> bytes:
        """One RFC 5424 message (without framing)."""
        body = message.body
        kind = body.get("type")
        pri = self._facility + SEVERITY.get(kind if isinstance(kind, str) else "", 6)
        stamp = body.get("time")
        stamp_b = stamp.encode() if isinstance(stamp, str) and _TIME.match(stamp.encode()) else b"-"
        host = body.get("host")
        host_b = self._hosts.get(host)
        if host_b is None:
            host_b = self._hosts[host] = header_token(host, 255)
        return b"<%d>1 %s %s exectrail %s %s - %s" % (
            pri, stamp_b, host_b, self._procid, header_token(kind, 32), message.json,
        )  # fmt: skip

    def frame(self, batch: Sequence[Message]) -> bytes:
        """The batch with octet-counting framing: ``LEN SP MSG`` per message."""
        out = []
        for message in batch:
            data = self.encode(message)
            out.append(b"%d %s" % (len(data), data))
        return b"".join(out)

    # -- delivery ---------------------------------------------------------------------------
    def send(self, batch: Sequence[Message]) -> int:
        if self.transport == "udp":
            return self._send_udp(batch)
        payload = self.frame(batch)
        replay = list(self._recent) if self._sock is None else []
        sock = self._connect()
        try:
            for old in replay:
                sock.sendall(old)
            sock.sendall(payload)
            self._wait_acknowledged(sock)
        except (OSError, ValueError) as exc:
            self._disconnect()
            raise SinkError(describe_io_error(exc, self._timeout)) from None
        self._recent.append(payload)
        self._recent_bytes += len(payload)
        while self._recent_bytes > REPLAY_BYTES and len(self._recent) > 1:
            self._recent_bytes -= len(self._recent.popleft())
        return 0

    def _send_udp(self, batch: Sequence[Message]) -> int:
        sock = self._connect()
        dropped = 0
        for message in batch:
            data = self.encode(message)
            if len(data) > MAX_UDP:
                dropped += 1
                continue
            try:
                sock.send(data)
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    dropped += 1
                    continue
                self._disconnect()
                raise SinkError(describe_io_error(exc, self._timeout)) from None
        return dropped

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        host, port = self._address
        try:
            if self.transport == "udp":
                family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(family, kind, proto)
                sock.connect(addr)
            else:
                sock = socket.create_connection(self._address, timeout=self._timeout)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except socket.gaierror as exc:
            raise SinkError(f"cannot resolve host {host!r} ({exc.strerror})") from None
        except OSError as exc:
            raise SinkError(
                f"cannot connect to {host}:{port}: {describe_io_error(exc, self._timeout)}"
            ) from None
        if self._context is not None:
            sock = self._handshake(sock)
        self._sock = sock
        return sock

    def _handshake(self, sock: socket.socket) -> socket.socket:
        assert self._context is not None
        try:
            return self._context.wrap_socket(sock, server_hostname=self._server_name)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise SinkError(
                f"TLS certificate of {self._address[0]}:{self._address[1]} rejected: {exc.verify_message} "
                f"(expected name {self._server_name!r}, signed by the ca= file or a system CA)"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise SinkError(f"TLS handshake with {self._address[0]}:{self._address[1]} failed: "
                            f"{describe_io_error(exc, self._timeout)}") from None  # fmt: skip

    def _wait_acknowledged(self, sock: socket.socket) -> None:
        """Wait until the peer's TCP stack has acknowledged everything sent (or fail)."""
        deadline = time.monotonic() + self._timeout
        pause = 0.0002
        while True:
            if peer_closed(sock):
                raise ConnectionResetError(104, "the receiver closed the connection")
            if unacknowledged(sock) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(110, "the receiver stopped reading")
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _disconnect(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def close(self) -> None:
        self._disconnect()


def tls_context(spec: SinkSpec) -> ssl.SSLContext:
    """Verifying client context: ``ca=`` (else the system CAs), optional client ``cert=``/``key=``."""
    try:
        context = ssl.create_default_context(cafile=spec.params.get("ca"))
        if "cert" in spec.params:
            context.load_cert_chain(spec.params["cert"], spec.params["key"])
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--sink {spec.display}: cannot load TLS files: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def unacknowledged(sock: socket.socket) -> int:
    """Bytes sent but not yet acknowledged by the peer (Linux SIOCOUTQ)."""
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


def peer_closed(sock: socket.socket) -> bool:
    """True when the receiver has closed or reset the connection (it never sends data)."""
    if isinstance(sock, ssl.SSLSocket):
        saved = sock.gettimeout()
        sock.setblocking(False)
        try:
            return sock.recv(1) == b""
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(saved)
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def describe_io_error(exc: BaseException, timeout: float) -> str:
    """A short human reason for a socket/TLS failure."""
    if isinstance(exc, TimeoutError):
        detail = exc.strerror if exc.strerror and exc.strerror != "timed out" else ""
        return f"timed out after {timeout:g} s" + (f" ({detail})" if detail else "")
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


__all__ = ["FACILITIES", "SyslogSink", "describe_io_error", "tls_context"]
