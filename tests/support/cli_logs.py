"""Hostile audit logs for the CLI tests: log text that tries to drive the terminal.

Every text field an attacker controls (exe, comm, argv, cwd, the path of a failed exec, the
actor of a rule deletion) carries terminal escape sequences: ``ESC [2K`` (erase the line),
``ESC [1A`` (cursor up), ``\\r``, ``\\b``, BEL, a C1 CSI and a right-to-left override. The
kernel writes such values as hex, exactly as here.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.kernel_format import log_lines

T0 = 1795608000  # 2026-11-25T12:00:00Z
ERASE = b"\x1b[2K\x1b[1A\r\b\x07"
HOSTILE_EXE = b"/tmp/." + ERASE + b"evil\xc2\x9b\xe2\x80\xae"
HOSTILE_COMM = b"c" + ERASE
HOSTILE_ARG = b"--x=" + ERASE
HOSTILE_CWD = b"/home/" + ERASE
#: what the escaped exe looks like on a terminal
ESCAPED_EXE = "/tmp/.\\x1b[2K\\x1b[1A\\r\\x08\\x07evil\\u009b\\u202e"


def _hex(value: bytes) -> str:
    return value.hex().upper()


def hostile_lines(events: int = 1, pid: int = 4000) -> list[bytes]:
    """``events`` execs of the hostile exe (pid, pid+1 …), a failed exec of a hostile path, and an
    ``auditctl -d`` of the procmon rule by the hostile exe (an alarm naming it)."""
    lines: list[bytes] = []
    for n in range(events):
        stamp = f"{T0 + n // 1000}.{n % 1000:03d}"
        event = log_lines(
            stamp, n + 1, [b"evil", HOSTILE_ARG], pid=pid + n, ppid=1, comm=HOSTILE_COMM, exe=HOSTILE_EXE
        )
        lines += [line.replace(b'cwd="/root"', b"cwd=" + _hex(HOSTILE_CWD).encode()) for line in event]
    serial = events + 1
    failed = log_lines(
        f"{T0 + 100}.000", serial, None, pid=pid + events, ppid=1, success=False, exit_code=-2,
        comm=HOSTILE_COMM, exe=HOSTILE_EXE,
    )  # fmt: skip
    lines += [line.replace(b'name="/usr/bin/true"', b"name=" + _hex(HOSTILE_EXE).encode()) for line in failed]
    stamp = f"msg=audit({T0 + 101}.000:{serial + 1}): "
    lines.append(
        f"type=CONFIG_CHANGE {stamp}auid=4294967295 ses=4294967295 op=remove_rule "
        f'key="procmon" list=4 res=1\n'.encode()
    )
    lines.append(
        (
            f"type=SYSCALL {stamp}arch=c000003e syscall=44 success=yes exit=1064 a0=4 a1=7ffe a2=428 a3=0 "
            f"items=0 ppid=1 pid=555 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 "
            f"fsgid=0 tty=(none) ses=4294967295 comm={_hex(HOSTILE_COMM)} exe={_hex(HOSTILE_EXE)} "
            "key=(null)\n"
        ).encode()
    )
    return lines


def write_hostile_log(path: Path, events: int = 1) -> Path:
    path.write_bytes(b"".join(hostile_lines(events)))
    return path


def terminal_controls(text: str) -> list[str]:
    """The characters of ``text`` that a terminal acts on (C0 but newline, DEL, C1, bidi overrides)."""
    return [
        ch
        for ch in text
        if (ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F or 0x202A <= ord(ch) <= 0x202E
    ]
