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
import sys
from collections.abc import Callable

from exectrail.model import Record
from exectrail.parse.types import record_type_name

_LINE_RE = re.compile(rb"(?:node=(\S+) )?type=([A-Z0-9_]+(?:\[\d+\])?) msg=audit\((\d+\.\d{3}:\d+)\): ?")
_MSG_RE = re.compile(rb"msg=audit\((\d+\.\d{3}:\d+)\):")  # the msg token of _LINE_RE, for fullmatch
_NETLINK_RE = re.compile(rb"audit\((\d+\.\d{3}:\d+)\): ?")
ENRICHED_SEPARATOR = b"\x1d"
# Names shared so that they are not decoded per line, and the header tokens that _LINE_RE has
# accepted, for parse_block's fast path: b"type=SYSCALL" -> "SYSCALL", b"node=web1" -> "web1".
_TYPE_NAMES: dict[bytes, str] = {}  # b"SYSCALL" -> "SYSCALL"
_TYPE_TOKENS: dict[bytes, str] = {}
_NODE_TOKENS: dict[bytes, str] = {}
_CACHE_LIMIT = 4096


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

    Most lines never reach the header regex: split at their first two spaces, a line whose type
    token and ``msg=audit(...):`` token are both ones that :data:`_LINE_RE` has already accepted
    (the first line of each event proves its msg token) is taken apart with bytes methods. Every
    other line goes through :func:`_parse_other`, so both ways give the same records.
    """
    out: list[Record] = []
    append = out.append
    types = _TYPE_TOKENS
    keys: dict[bytes, bytes] = {}  # b"msg=audit(1.000:2):" -> b"1.000:2", proven in this block
    bad = 0
    lines = block.split(b"\n")
    lines.pop()  # the empty piece after the last newline
    for line in lines:
        try:
            head, msg, body = line.split(b" ", 2)
            type_name = types[head]
        except (ValueError, KeyError):  # not three pieces, or not a proven type token
            key = None
        else:
            key = keys.get(msg)
            if key is None:  # the first record of an event: prove its msg token
                match = _MSG_RE.fullmatch(msg)
                if match is not None:
                    key = keys[msg] = match.group(1)
        if key is None:
            record = _parse_other(line, keys)
            if record is None:
                on_bad(len(out) + bad, line, MalformedRecord("malformed-line", _why_malformed(line)))
                bad += 1
            else:
                append(record)
            continue
        cut = body.find(b"\x1d")  # ENRICHED: the interpreted part is cut off
        append(Record(type_name, key, body if cut < 0 else body[:cut]))
    return out


def _parse_other(line: bytes, keys: dict[bytes, bytes]) -> Record | None:
    """A line that parse_block's fast path did not take: a ``node=`` line whose node and rest are
    proven tokens, else through :data:`_LINE_RE`, which proves the line's tokens for the next ones."""
    token, _, rest = line.partition(b" ")
    node = _NODE_TOKENS.get(token)
    if node is not None:
        parts = rest.split(b" ", 2)
        if len(parts) == 3:
            type_name = _TYPE_TOKENS.get(parts[0])
            key = keys.get(parts[1])
            if type_name is not None and key is not None:
                body = parts[2]
                cut = body.find(b"\x1d")
                return Record(type_name, key, body if cut < 0 else body[:cut], node)
    match = _LINE_RE.match(line)
    if match is None:
        return None
    node_raw, type_raw, key = match.groups()
    body = line[match.end() :]
    cut = body.find(b"\x1d")
    if cut >= 0:
        body = body[:cut]
    keys[b"msg=audit(" + key + b"):"] = key
    return Record(_type_name(type_raw), key, body, None if node_raw is None else _node_name(node_raw))


def _type_name(type_raw: bytes) -> str:
    name = _TYPE_NAMES.get(type_raw)
    if name is None:
        name = type_raw.decode("ascii")
        if len(_TYPE_NAMES) < _CACHE_LIMIT:
            name = sys.intern(name)
            _TYPE_NAMES[type_raw] = name
            _TYPE_TOKENS[b"type=" + type_raw] = name
    return name


def _node_name(node_raw: bytes) -> str:
    node = node_raw.decode("utf-8", "replace")
    if len(_NODE_TOKENS) < _CACHE_LIMIT:
        _NODE_TOKENS[b"node=" + node_raw] = node
    return node


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
