"""Exec events ↔ rows of the ``events`` table, losslessly.

Text fields (``str`` that may hold ``surrogateescape`` bytes) are stored as TEXT when they are valid
UTF-8 and as a BLOB of the raw bytes otherwise, so any byte survives. ``argv`` is a BLOB: every
argument followed by a NUL (the kernel never passes a NUL inside an argument). An argv that does hold
a NUL somewhere falls back to a length-prefixed form that ends in 0x01, so any tuple of bytes
round-trips. The empty tuple is the empty BLOB; no argv at all (failed execs) is NULL.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from exectrail.model import ExecEvent, new_exec_event

#: Stored columns of one event, in table order (``seq``, ``digest`` and ``chain`` come on top).
COLUMNS = (
    "time_ms", "serial", "node", "arch", "syscall", "success", "exit", "pid", "ppid",
    "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "auid", "ses", "tty",
    "comm", "exe", "cwd", "path", "argc", "argv", "key", "proctitle", "incomplete",
)  # fmt: skip

Row = tuple[Any, ...]
_SUCCESS = {True: 1, False: 0, None: None}
_BOOL = {0: False, None: None}  # anything else is True, as bool() says
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEN = struct.Struct(">I")
_LENGTH_PREFIXED = b"\x01"


def store_text(value: str | None) -> str | bytes | None:
    """TEXT for valid UTF-8, the raw bytes (BLOB) when ``surrogateescape`` kept undecodable bytes."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    return value


def load_text(value: str | bytes | None) -> str | None:
    """Inverse of :func:`store_text`."""
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "surrogateescape")


def pack_argv(argv: tuple[bytes, ...] | None) -> bytes | None:
    """argv as one BLOB (see the module docstring)."""
    if argv is None:
        return None
    if not argv:
        return b""
    blob = b"\0".join(argv) + b"\0"
    if blob.count(b"\0") == len(argv):
        return blob
    return b"".join(_LEN.pack(len(arg)) + arg for arg in argv) + _LENGTH_PREFIXED


def unpack_argv(blob: bytes | None) -> tuple[bytes, ...] | None:
    """Inverse of :func:`pack_argv`."""
    if blob is None:
        return None
    if not blob:
        return ()
    if blob[-1] == 0:
        return tuple(blob[:-1].split(b"\0"))
    out = []
    pos, end = 0, len(blob) - 1
    while pos < end:
        (size,) = _LEN.unpack_from(blob, pos)
        out.append(blob[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return tuple(out)


def argv_line(blob: bytes | None) -> bytes | None:
    """The command line as bytes (arguments joined by spaces) straight from a packed argv."""
    if blob is None:
        return None
    if not blob or blob[-1] == 0:
        return blob[:-1].replace(b"\0", b" ")
    argv = unpack_argv(blob)
    return b" ".join(argv or ())


def time_to_ms(time: datetime) -> int:
    """Milliseconds since the epoch (audit timestamps have millisecond resolution)."""
    delta = time - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_time(ms: int) -> datetime:
    """Inverse of :func:`time_to_ms` (same value as ``model.timestamp_to_datetime``)."""
    return _EPOCH + timedelta(milliseconds=ms)


def event_to_row(e: ExecEvent) -> Row:
    """The stored column values of ``e`` in :data:`COLUMNS` order."""
    t = store_text  # the common case (ASCII or None) without a call:
    tty, comm, exe, cwd, path, key, title = e.tty, e.comm, e.exe, e.cwd, e.path, e.key, e.proctitle
    arch, syscall = e.arch, e.syscall
    return (
        time_to_ms(e.time), e.serial, t(e.node),
        arch if arch is None or arch.isascii() else t(arch),
        syscall if syscall is None or syscall.isascii() else t(syscall), _SUCCESS[e.success],
        e.exit, e.pid, e.ppid, e.uid, e.euid, e.suid, e.fsuid, e.gid, e.egid, e.sgid, e.fsgid, e.auid, e.ses,
        tty if tty is None or tty.isascii() else t(tty),
        comm if comm is None or comm.isascii() else t(comm),
        exe if exe is None or exe.isascii() else t(exe),
        cwd if cwd is None or cwd.isascii() else t(cwd),
        path if path is None or path.isascii() else t(path),
        e.argc, pack_argv(e.argv),
        key if key is None or key.isascii() else t(key),
        title if title is None or title.isascii() else t(title),
        1 if e.incomplete else 0,
    )  # fmt: skip


def hashed_columns(row: Row) -> Row:
    """The stored values a row's digest covers: all of them, but ``incomplete`` only when it is set,
    so that rows stored before that column existed (schema 2) keep their digest."""
    last = row[-1]
    return row[:-1] if type(last) is int and last == 0 else row


_INTEGERS = frozenset({int, type(None)})


def row_to_event(r: Row) -> ExecEvent:
    """An :class:`ExecEvent` from a row in :data:`COLUMNS` order; ValueError for a row that holds a
    value of a type exectrail never stores there (a hand-edited store)."""
    arch, syscall = r[3], r[4]  # str (or None) unless someone stored bytes there
    if not _INTEGERS.issuperset(map(type, r[5:19])) or type(r[1]) is not int or type(r[24]) not in _INTEGERS:
        _not_integer(r)
    return new_exec_event(
        ms_to_time(r[0]), r[1], load_text(r[2]),
        arch if type(arch) is str or arch is None else _not_text("arch", arch),
        syscall if type(syscall) is str or syscall is None else _not_text("syscall", syscall),
        _BOOL.get(r[5], True), r[6], r[7], r[8], r[9],
        r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17], r[18], load_text(r[19]),
        load_text(r[20]), load_text(r[21]), load_text(r[22]), load_text(r[23]), r[24],
        unpack_argv(r[25]), load_text(r[26]), load_text(r[27]), bool(r[28]),
    )  # fmt: skip


def _not_integer(r: Row) -> None:
    for name, value in zip(COLUMNS, r, strict=True):
        if name in _INTEGER_COLUMNS and type(value) not in _INTEGERS:
            raise ValueError(f"{name} is a {type(value).__name__}, not a number")


_INTEGER_COLUMNS = frozenset(COLUMNS[5:19]) | {"serial", "argc"}


def _not_text(name: str, value: object) -> str:
    raise ValueError(f"{name} is a {type(value).__name__}")


def search_text(e: ExecEvent) -> str:
    """What full-text search indexes: the command line, or the path of a failed exec."""
    if e.argv is not None:
        return b" ".join(e.argv).decode("utf-8", "replace")
    return (e.path or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
