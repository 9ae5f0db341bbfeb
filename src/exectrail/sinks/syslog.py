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
import socket
from collections import deque
from collections.abc import Sequence

from exectrail.sinks import net
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.rfc5424 import FACILITIES, FACILITY, Rfc5424
from exectrail.sinks.spec import FORMAT, TIMEOUT, SinkKind, SinkSpec

MAX_UDP = 65507
REPLAY_BYTES = 4 << 20


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
