"""Turning one line of auditd output, or one netlink message, into a :class:`Record`.

Accepted forms (bytes in, so non-UTF-8 input survives):

* auditd log lines, RAW and ENRICHED: ``[node=N ]type=NAME msg=audit(SEC.MS:SERIAL): fields``
  where ENRICHED appends ``0x1d`` and interpreted UPPERCASE fields (cut off here: the raw part is
  authoritative); NAME may be ``UNKNOWN[1334]``;
* audisp plugin lines, which are the same text;
* the netlink payload ``audit(SEC.MS:SERIAL): fields`` with the numeric type from the netlink header.
"""

from __future__ import annotations

import re

from exectrail.model import Record
from exectrail.parse.types import record_type_name

_LINE_RE = re.compile(rb"(?:node=(\S+) )?type=([A-Z0-9_]+(?:\[\d+\])?) msg=audit\((\d+\.\d{3}:\d+)\): ?")
_NETLINK_RE = re.compile(rb"audit\((\d+\.\d{3}:\d+)\): ?")
ENRICHED_SEPARATOR = b"\x1d"
_TYPE_NAMES: dict[bytes, str] = {}  # b"SYSCALL" -> "SYSCALL", shared so names are not decoded per line


class MalformedRecord(ValueError):
    """A line or message that is not audit record text; ``kind`` names the diagnostic."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def parse_line(line: bytes, origin: str | None = None) -> Record:
    """Parse one auditd log line (trailing newline allowed); raise :class:`MalformedRecord`."""
    match = _LINE_RE.match(line)
    if match is None:
        raise MalformedRecord("malformed-line", _why_malformed(line))
    body = line[match.end() :]
    cut = body.find(ENRICHED_SEPARATOR)
    if cut >= 0:
        body = body[:cut]
    elif body.endswith(b"\n"):
        body = body[:-1]
    node_raw, type_raw, key = match.groups()
    type_name = _TYPE_NAMES.get(type_raw)
    if type_name is None:
        type_name = type_raw.decode("ascii")
        if len(_TYPE_NAMES) < 4096:
            _TYPE_NAMES[type_raw] = type_name
    return Record(
        type_name,
        key,
        body,
        None if node_raw is None else node_raw.decode("utf-8", "surrogateescape"),
        origin,
    )


def parse_netlink(msg_type: int, payload: bytes, node: str | None = None) -> Record:
    """Parse a netlink audit message body (``audit(…): fields``, maybe NUL-terminated)."""
    end = payload.find(b"\0")
    if end >= 0:
        payload = payload[:end]
    match = _NETLINK_RE.match(payload)
    if match is None:
        raise MalformedRecord("malformed-message", f"type {msg_type}: no audit(...) header")
    body = payload[match.end() :].rstrip(b"\n")
    return Record(record_type_name(msg_type), match.group(1), body, node)


def _why_malformed(line: bytes) -> str:
    stripped = line.strip()
    if not stripped:
        return "empty line"
    if b"\0" in line[:256]:
        return "binary data (NUL bytes)"
    if not stripped.startswith((b"type=", b"node=")):
        return "does not start with type= or node="
    if b"msg=audit(" not in line[:512]:
        return "no msg=audit(SECONDS.MS:SERIAL) header"
    return "truncated or damaged header"
