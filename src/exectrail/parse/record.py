"""Turning one line of auditd output, or one netlink message, into a :class:`Record`.

Accepted forms (bytes in, so non-UTF-8 input survives):

* auditd log lines, RAW and ENRICHED: ``[node=N ]type=NAME msg=audit(SEC.MS:SERIAL): fields``
  where ENRICHED appends ``0x1d`` and interpreted UPPERCASE fields (cut off here: the raw part is
  authoritative); NAME may be ``UNKNOWN[1334]``; auditd 1.x wrote no colon after the parenthesis;
  a CRLF line ending is read as LF;
* audisp plugin lines, which are the same text;
* the netlink payload ``audit(SEC.MS:SERIAL): fields`` with the numeric type from the netlink header.

A header whose numbers are out of range (a time past year 9999, a serial of 2^63 or more,
milliseconds that are not 3 digits) is an ``out-of-range`` diagnostic, so that the
``seconds``/``serial``/``time`` of every record produced here can be computed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from exectrail.model import Record
from exectrail.parse.types import record_type_name

# After the header's ")": ": " (auditd 2+, the kernel), ":" or " " (auditd 1.x), or the end of the line.
_HEADER_END = rb"\)(?:: ?| |\Z)"
_LINE_RE = re.compile(
    rb"(?:node=(\S+) )?type=([A-Z0-9_]+(?:\[\d+\])?) msg=audit\((\d+\.\d+:\d+)" + _HEADER_END
)
# The msg token for parse_block's fast path (fullmatch): numbers short enough to need no range check.
_MSG_RE = re.compile(rb"msg=audit\((\d{1,11}\.\d{3}:\d{1,18})\):?")
_NETLINK_RE = re.compile(rb"audit\((\d+\.\d+:\d+)" + _HEADER_END)
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_SERIAL = (1 << 63) - 1  # the store's INTEGER
# Names shared so that they are not decoded per line, and the header tokens that _LINE_RE has
# accepted, for parse_block's fast path: b"type=SYSCALL" -> "SYSCALL", b"node=web1" -> "web1".
_TYPE_NAMES: dict[bytes, str] = {}  # b"SYSCALL" -> "SYSCALL"
_TYPE_TOKENS: dict[bytes, str] = {}
_NODE_TOKENS: dict[bytes, str] = {}
_CACHE_LIMIT = 4096
_CACHED_NAME_BYTES = 256  # longer names are not cached: the caches stay small whatever the input


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
    found = parse_block(line if line.endswith(b"\n") else line + b"\n", _raise)
    if not found:  # parse_block skips a blank line; one line asked for is one record expected
        raise MalformedRecord("malformed-line", "empty line")
    return found[0]


def _raise(_index: int, _line: bytes, error: MalformedRecord) -> None:
    raise error


BadLine = Callable[[int, bytes, MalformedRecord], None]


def parse_block(block: bytes, on_bad: BadLine) -> list[Record]:
    """Every record in ``block`` (whole lines, each ending with a newline), in order.

    The fast path for files. A malformed line calls ``on_bad(line_index_in_block, line, error)``
    and is skipped; an empty (or all-blank) line is skipped silently. CRLF endings are read as LF.

    Most lines never reach the header regex: split at their first two spaces, a line whose type
    token and ``msg=audit(...):`` token are both ones that :data:`_LINE_RE` has already accepted
    (the first line of each event proves its msg token) is taken apart with bytes methods. Every
    other line goes through :func:`_parse_other`, so both ways give the same records.
    """
    out: list[Record] = []
    append = out.append
    types = _TYPE_TOKENS
    keys: dict[bytes, bytes] = {}  # b"msg=audit(1.000:2):" -> b"1.000:2", proven in this block
    skipped = 0  # lines that gave no record, so that on_bad gets the line's index
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
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
            if isinstance(record, Record):
                append(record)
                continue
            if record is not None:  # (None: a blank line, skipped silently)
                on_bad(len(out) + skipped, line, record)
            skipped += 1
            continue
        cut = body.find(b"\x1d")  # ENRICHED: the interpreted part is cut off (a SYSCALL's kept aside)
        if cut < 0:
            append(Record(type_name, key, body))
        elif type_name == "SYSCALL":
            append(Record(type_name, key, body[:cut], None, None, body[cut + 1 :]))
        else:
            append(Record(type_name, key, body[:cut]))
    return out


def _parse_other(line: bytes, keys: dict[bytes, bytes]) -> Record | MalformedRecord | None:
    """A line that parse_block's fast path did not take: a ``node=`` line whose node and rest are
    proven tokens, else through :data:`_LINE_RE`, which proves the line's tokens for the next ones.
    The error for a bad line; None for a blank one."""
    token, _, rest = line.partition(b" ")
    node = _NODE_TOKENS.get(token)
    if node is not None:
        parts = rest.split(b" ", 2)
        if len(parts) == 3:
            type_name = _TYPE_TOKENS.get(parts[0])
            key = keys.get(parts[1])
            if type_name is not None and key is not None:
                body = parts[2]
                return _record(type_name, key, body, node)
    match = _LINE_RE.match(line)
    if match is None:
        if not line.strip():
            return None
        return MalformedRecord("malformed-line", _why_malformed(line))
    node_raw, type_raw, key = match.groups()
    problem = header_problem(key)
    if problem is not None:
        return MalformedRecord("out-of-range", problem)
    keys[b"msg=audit(" + key + b"):"] = keys[b"msg=audit(" + key + b")"] = key
    node = None if node_raw is None else _node_name(node_raw)
    return _record(_type_name(type_raw), key, line[match.end() :], node)


def _record(type_name: str, key: bytes, body: bytes, node: str | None) -> Record:
    """The record of a line's parts; an ENRICHED line's interpreted part (after 0x1d) is cut off, and
    kept aside for a SYSCALL record (its names for the ids)."""
    cut = body.find(b"\x1d")
    if cut < 0:
        return Record(type_name, key, body, node)
    return Record(type_name, key, body[:cut], node, None, body[cut + 1 :] if type_name == "SYSCALL" else None)


def _type_name(type_raw: bytes) -> str:
    name = _TYPE_NAMES.get(type_raw)
    if name is None:
        name = type_raw.decode("ascii")
        if len(_TYPE_NAMES) < _CACHE_LIMIT and len(type_raw) <= _CACHED_NAME_BYTES:
            name = sys.intern(name)
            _TYPE_NAMES[type_raw] = name
            _TYPE_TOKENS[b"type=" + type_raw] = name
    return name


def _node_name(node_raw: bytes) -> str:
    node = node_raw.decode("utf-8", "surrogateescape")  # the bytes stay recoverable
    if len(_NODE_TOKENS) < _CACHE_LIMIT and len(node_raw) <= _CACHED_NAME_BYTES:
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
    problem = header_problem(match.group(1))
    if problem is not None:
        raise MalformedRecord("out-of-range", f"type {msg_type}: {problem}")
    body = payload[match.end() :].rstrip(b"\n")
    return Record(record_type_name(msg_type), match.group(1), body, node)


def header_problem(key: bytes) -> str | None:
    """Why the numbers of a ``SEC.MS:SERIAL`` header (digits only) are out of range, or None."""
    seconds, _, rest = key.partition(b".")
    millis, _, serial = rest.partition(b":")
    if len(millis) != 3:
        return f"time {_shown(seconds)}.{_shown(millis)} has {len(millis)} digits of milliseconds, not 3"
    if len(seconds) > 12 or int(seconds) > MAX_SECONDS:
        return f"time {_shown(seconds)} is past year 9999"
    if len(serial) > 19 or int(serial) > MAX_SERIAL:
        return f"serial {_shown(serial)} is too large (2^63 or more)"
    return None


def _shown(digits: bytes) -> str:
    """A number for a message: long ones cut, with their length."""
    text = digits.decode("ascii")
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"


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
