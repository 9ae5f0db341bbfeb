"""Turning an :class:`ExecEvent` into plain values: the JSON schema every output shares."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from exectrail.model import Alarm, ExecEvent
from exectrail.output.terminal import terminal_text

COLUMNS = (
    "type", "time", "serial", "node", "arch", "syscall", "success", "exit", "pid", "ppid",
    "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "auid", "ses", "tty",
    "comm", "exe", "cwd", "path", "argc", "argv", "argv_hex", "key", "proctitle", "incomplete",
)  # fmt: skip


def clean_text(text: str | None) -> str | None:
    """A str safe for JSON/terminals: bytes kept by ``surrogateescape`` become U+FFFD."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def decode_argv(argv: tuple[bytes, ...]) -> tuple[list[str], list[str] | None]:
    """argv as str (bad bytes → U+FFFD) and, only if some argument is not UTF-8, every arg as hex."""
    try:
        return [arg.decode("utf-8") for arg in argv], None  # the usual case, in one go
    except UnicodeDecodeError:
        pass
    out = []
    lossy = False
    for arg in argv:
        try:
            out.append(arg.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(arg.decode("utf-8", "replace"))
            lossy = True
    return out, ([arg.hex() for arg in argv] if lossy else None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS: dict[int, str] = {}  # seconds since the epoch -> "2026-11-25T14:40:47"
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def format_time(event: ExecEvent) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: ``2026-11-25T14:40:47.506Z``."""
    time = event.time
    if time.tzinfo is not UTC:
        return time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    since = time - _EPOCH  # isoformat costs a microsecond; the second's text is looked up instead
    second = since.days * 86400 + since.seconds
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = time.isoformat(timespec="seconds")[:19]
    return text + _MILLISECONDS[time.microsecond // 1000]


def event_to_dict(event: ExecEvent) -> dict[str, Any]:
    """The documented JSON object of one exec event (``argv_hex`` only when needed)."""
    argv: list[str] | None = None
    argv_hex: list[str] | None = None
    if event.argv is not None:
        argv, argv_hex = decode_argv(event.argv)
    out: dict[str, Any] = {
        "type": "exec",
        "time": format_time(event),
        "serial": event.serial,
        "node": event.node,
        "arch": event.arch,
        "syscall": event.syscall,
        "success": event.success,
        "exit": event.exit,
        "pid": event.pid,
        "ppid": event.ppid,
        "uid": event.uid,
        "euid": event.euid,
        "suid": event.suid,
        "fsuid": event.fsuid,
        "gid": event.gid,
        "egid": event.egid,
        "sgid": event.sgid,
        "fsgid": event.fsgid,
        "auid": event.auid,
        "ses": event.ses,
        "tty": event.tty,
        "comm": clean_text(event.comm),
        "exe": clean_text(event.exe),
        "cwd": clean_text(event.cwd),
        "path": clean_text(event.path),
        "argc": event.argc,
        "argv": argv,
    }
    if argv_hex is not None:
        out["argv_hex"] = argv_hex
    out["key"] = clean_text(event.key)
    out["proctitle"] = clean_text(event.proctitle)
    out["incomplete"] = event.incomplete
    return out


def command_line(event: ExecEvent) -> str:
    """argv as a shell-quoted command line (bad bytes → U+FFFD); the path for failed execs."""
    if event.argv is None:
        return clean_text(event.path) or ""
    return shlex.join(decode_argv(event.argv)[0])


def _display_arg(arg: str) -> str:
    if arg.isprintable():
        return shlex.quote(arg)
    return "$'" + terminal_text(arg).replace("'", "\\'") + "'"  # bash's $'…' reads the same escapes


def display_command_line(event: ExecEvent) -> str:
    """The command line for a terminal: shell quoting, control characters as ``$'\\n'`` escapes."""
    if event.argv is None:
        return terminal_text(clean_text(event.path) or "")
    return " ".join(_display_arg(arg) for arg in decode_argv(event.argv)[0])


def alarm_to_dict(alarm: Alarm) -> dict[str, Any]:
    """The JSON object of one alarm: ``{"type": "alarm", "kind": …, "time": …, …}``."""
    return {
        "type": "alarm",
        "kind": alarm.kind,
        "time": alarm.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "certainty": alarm.certainty,
        "host": alarm.host,
        "summary": alarm.summary,
        "details": alarm.details,
        "evidence": [clean_text(line) for line in alarm.evidence],
    }
