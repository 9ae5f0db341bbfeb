"""Editing real audit logs the way an intruder (or an accident) would, for the interference tests.

Every function takes the lines of a log written by auditd (bytes, newline kept) and returns new
lines; nothing here invents record content -- lines are removed, copied, moved, or have one field
changed.
"""

from __future__ import annotations

import re
from pathlib import Path

SERIAL = re.compile(rb"msg=audit\((\d+)\.(\d{3}):(\d+)\)")
SEP = b"\x1d"


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def serial(line: bytes) -> int:
    found = SERIAL.search(line)
    assert found is not None, line
    return int(found.group(3))


def is_type(line: bytes, rtype: str) -> bool:
    return f"type={rtype} ".encode() in line[:80]


def exec_serials(lines: list[bytes], needle: bytes = b"") -> list[int]:
    """Serials of successful execve events (optionally whose EXECVE record contains ``needle``)."""
    ok = {serial(x) for x in lines if is_type(x, "SYSCALL") and b" syscall=59 " in x and b"success=yes" in x}
    if needle:
        ok &= {serial(x) for x in lines if is_type(x, "EXECVE") and needle in x}
    return sorted(ok)


def drop_event(lines: list[bytes], number: int) -> list[bytes]:
    """Remove every record of the event with serial ``number``."""
    return [
        x for x in lines if not (SERIAL.search(x) and serial(x) == number and not is_type(x, "DAEMON_START"))
    ]


def drop_record(lines: list[bytes], number: int, rtype: str) -> list[bytes]:
    """Remove the first ``rtype`` record of event ``number``."""
    out, done = [], False
    for line in lines:
        if not done and is_type(line, rtype) and serial(line) == number:
            done = True
            continue
        out.append(line)
    assert done, f"no {rtype} record in event {number}"
    return out


def event_lines(lines: list[bytes], number: int) -> list[bytes]:
    return [x for x in lines if SERIAL.search(x) and serial(x) == number and not x.startswith(b"type=DAEMON")]


def change_field(lines: list[bytes], number: int, rtype: str, old: bytes, new: bytes) -> list[bytes]:
    """In the raw part (before 0x1d) of event ``number``'s ``rtype`` record, replace ``old`` by ``new``."""
    out, done = [], False
    for line in lines:
        if not done and is_type(line, rtype) and serial(line) == number:
            raw, sep, rest = line.partition(SEP)
            assert old in raw, (old, raw)
            line = raw.replace(old, new, 1) + sep + rest
            done = True
        out.append(line)
    assert done
    return out


def shift_serials(lines: list[bytes], start: int, delta: int) -> list[bytes]:
    """Add ``delta`` to the serial of every kernel record from line ``start`` on (a splice)."""
    out = lines[:start]
    for line in lines[start:]:
        found = SERIAL.search(line)
        if found and not line.startswith(b"type=DAEMON"):
            new = int(found.group(3)) + delta
            line = line[: found.start(3)] + str(new).encode() + line[found.end(3) :]
        out.append(line)
    return out


def shift_time(lines: list[bytes], start: int, delta_s: int) -> list[bytes]:
    """Add ``delta_s`` seconds to the timestamp of every record from line ``start`` on."""
    out = lines[:start]
    for line in lines[start:]:
        found = SERIAL.search(line)
        if found:
            new = int(found.group(1)) + delta_s
            line = line[: found.start(1)] + str(new).encode() + line[found.end(1) :]
        out.append(line)
    return out
