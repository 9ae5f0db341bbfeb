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
from collections.abc import Callable

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


def parse_line(line: bytes) -> Record:
    """Parse one auditd log line (trailing newline allowed); raise :class:`MalformedRecord`."""
    if b"\n" in line[:-1]:
        raise MalformedRecord("malformed-line", "several lines where one was expected")
    return parse_block(line if line.endswith(b"\n") else line + b"\n", _raise)[0]


def _raise(_index: int, _line: bytes, error: MalformedRecord) -> None:
    raise error


BadLine = Callable[[int, bytes, MalformedRecord], None]


def parse_block(block: bytes, on_bad: BadLine) -> list[Record]:
    """Every record in ``block`` (whole lines, each ending with a newline), in order.

    The fast path for files. A malformed line calls ``on_bad(line_index_in_block, line, error)``
    and is skipped.
    """
    out: list[Record] = []
    append = out.append
    names = _TYPE_NAMES
    match_header = _LINE_RE.match
    lines = block.split(b"\n")
    lines.pop()  # the empty piece after the last newline
    for index, line in enumerate(lines):
        match = match_header(line)
        if match is None:
            on_bad(index, line, MalformedRecord("malformed-line", _why_malformed(line)))
            continue
        node_raw, type_raw, key = match.groups()
        body = line[match.end() :]
        cut = body.find(b"\x1d")
        if cut >= 0:
            body = body[:cut]
        type_name = names.get(type_raw)
        if type_name is None:
            type_name = _type_name(type_raw)
        node = None if node_raw is None else node_raw.decode("utf-8", "replace")
        append(Record(type_name, key, body, node))
    return out


def _type_name(type_raw: bytes) -> str:
    name = type_raw.decode("ascii")
    if len(_TYPE_NAMES) < 4096:
        _TYPE_NAMES[type_raw] = name
    return name


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
