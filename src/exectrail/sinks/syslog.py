"""Syslog sinks: RFC 5424 messages over TCP or TLS with octet-counting framing (RFC 6587), or UDP.

Each message is ``<PRI>1 TIME HOST exectrail PID TYPE - JSON``: the timestamp is the event's, HOST
is the forwarded ``host``, MSGID the message type (``exec``, later ``alarm``/``heartbeat``) and the
body the whole event as one line of JSON (argv complete; non-UTF-8 arguments also as ``argv_hex``).
Receivers must accept messages as large as the largest event (rsyslog: ``global(maxMessageSize="8m")``).

Delivery over TCP/TLS counts only once the peer's TCP stack has acknowledged every byte (the
socket's unacknowledged-output counter is zero). An acknowledgement is not proof that the receiving
program read the data, so after a broken connection the last few megabytes already acknowledged are
sent again first (receivers de-duplicate by ``id``).

URLs (see :data:`KINDS`): ``syslog+tcp://HOST[:514]``, ``syslog+udp://HOST[:514]``,
``syslog+tls://HOST[:6514]?ca=FILE[&cert=FILE&key=FILE][&server_name=NAME]``; all take ``timeout=``,
``facility=`` (default ``authpriv``) and ``format=`` (``exectrail``; ``ecs`` or ``ocsf``: the body of
exec events and alarms in that schema, mapped at send time; heartbeats as they are).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
from collections import deque
from collections.abc import Sequence

from exectrail.errors import UsageError
from exectrail.output.mapped import body_mapper
from exectrail.sinks import net
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.spec import FORMAT, TIMEOUT, Param, SinkKind, SinkSpec

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}  # fmt: skip
FACILITY = Param("facility", "syslog facility name (kern … local7)", "authpriv")
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


class Rfc5424:
    """The RFC 5424 message of each forwarded object (the syslog and RELP sinks send the same bytes):
    ``facility=`` and ``format=`` of the sink URL decide PRI and body."""

    def __init__(self, spec: SinkSpec) -> None:
        facility = FACILITY.value(spec)
        if facility not in FACILITIES:
            raise UsageError(f"--sink {spec.display}: unknown facility {facility!r}")
        self.facility = FACILITIES[facility] * 8
        self._procid = str(os.getpid()).encode()
        self._hosts: dict[object, bytes] = {}
        self._mapper = body_mapper(FORMAT.value(spec))

    def encode(self, message: Message) -> bytes:
        """One RFC 5424 message (without framing)."""
        body = message.body
        kind = body.get("type")
        pri = self.facility + SEVERITY.get(kind if isinstance(kind, str) else "", 6)
        stamp = body.get("time")
        stamp_b = stamp.encode() if isinstance(stamp, str) and _TIME.match(stamp.encode()) else b"-"
        host = body.get("host")
        host_b = self._hosts.get(host)
        if host_b is None:
            host_b = self._hosts[host] = header_token(host, 255)
        data = message.json if self._mapper is None else self._mapper.json(body, message.json)
        return b"<%d>1 %s %s exectrail %s %s - %s" % (
            pri, stamp_b, host_b, self._procid, header_token(kind, 32), data,
        )  # fmt: skip


class SyslogSink:
    """``syslog+tcp``, ``syslog+tls`` or ``syslog+udp`` to one receiver."""

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self.transport = spec.scheme.partition("+")[2]
        self.lossy = self.transport == "udp"
        self.refused_reason = "too large for a UDP datagram"
        self._address = (spec.host, spec.port)
        self._timeout = spec.timeout()
        self.rfc5424 = Rfc5424(spec)
        self.encode = self.rfc5424.encode
        self._server_name = spec.params.get(net.SERVER_NAME.name, spec.host)
        self._context = net.tls_context(spec) if self.transport == "tls" else None
        self._sock: socket.socket | None = None
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0

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
            net.wait_acknowledged(sock, self._timeout)
        except (OSError, ValueError) as exc:
            self._disconnect()
            raise SinkError(net.describe_io_error(exc, self._timeout)) from None
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
                raise SinkError(net.describe_io_error(exc, self._timeout)) from None
        return dropped

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        host, port = self._address
        sock = net.connect(host, port, self._timeout, datagram=self.transport == "udp")
        if self._context is not None:
            sock = net.tls_handshake(sock, self._context, self._server_name, f"{host}:{port}", self._timeout)
        self._sock = sock
        return sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def close(self) -> None:
        self._disconnect()


TLS_SYNTAX = "syslog+tls://HOST:PORT?ca=FILE[&cert=FILE&key=FILE][&server_name=NAME]"
PARAMS = (TIMEOUT, FACILITY, FORMAT)
KINDS = (
    SinkKind("syslog+tcp", "syslog+tcp://HOST:PORT", SyslogSink, PARAMS, default_port=514),
    SinkKind("syslog+tls", TLS_SYNTAX, SyslogSink, (*PARAMS, *net.TLS_PARAMS), default_port=6514,
             check=net.check_tls_pair),
    SinkKind("syslog+udp", "syslog+udp://HOST:PORT", SyslogSink, PARAMS, default_port=514),
)  # fmt: skip

__all__ = ["FACILITIES", "FACILITY", "KINDS", "Rfc5424", "SyslogSink"]
