"""The RFC 5424 message of each forwarded object, shared by the syslog and RELP sinks.

``<PRI>1 TIME HOST exectrail PID TYPE - JSON``: PRI from ``facility=`` (and ``crit`` for alarms, else
``info``), the event's timestamp, HOST the forwarded ``host``, MSGID the message type (``exec``,
``alarm``, ``heartbeat``) and the body the whole object as one line of JSON, or its ECS/OCSF mapping
(``format=``).
"""

from __future__ import annotations

import os
import re

from exectrail.errors import UsageError
from exectrail.output.mapped import body_mapper
from exectrail.sinks.base import Message
from exectrail.sinks.spec import FORMAT, Param, SinkSpec

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}  # fmt: skip
FACILITY = Param("facility", "syslog facility name (kern … local7)", "authpriv")
SEVERITY = {"alarm": 2}  # crit; everything else is info (6)
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)\Z")
_UNPRINTABLE = re.compile(rb"[^\x21-\x7e]")


def header_token(value: object, limit: int) -> bytes:
    """A header field: printable US-ASCII without spaces, at most ``limit`` bytes, or ``-``."""
    if not isinstance(value, str) or not value:
        return b"-"
    return _UNPRINTABLE.sub(b"_", value.encode("utf-8", "replace"))[:limit]


class Rfc5424:
    """Encoder for one sink: ``facility=`` and ``format=`` of its URL decide PRI and body."""

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


__all__ = ["FACILITIES", "FACILITY", "SEVERITY", "Rfc5424", "header_token"]
