"""Writing audit records the way the kernel does, for property tests of the parser.

``execve_records`` follows kernel/auditsc.c ``audit_log_execve_info``: ``argc=N`` first, each
argument quoted when every byte is 0x21..0x7e and none is ``"``, else uppercase hex; an argument
longer than MAX_EXECVE_AUDIT_LEN is always hex, logged as ``aN_len=`` and ``aN[k]=`` chunks; a
record is ended and a new EXECVE record begun when the next piece would not fit.
"""

from __future__ import annotations

from exectrail.parse.fields import encode_value

MAX_EXECVE_AUDIT_LEN = 7500


def execve_records(argv: list[bytes], record_budget: int = MAX_EXECVE_AUDIT_LEN) -> list[bytes]:
    """The EXECVE record bodies (without header) for ``argv``."""
    records: list[list[bytes]] = [[b"argc=%d" % len(argv)]]
    used = len(records[0][0])

    def put(piece: bytes) -> None:
        nonlocal used
        if used + 1 + len(piece) > record_budget:
            records.append([])
            used = 0
        records[-1].append(piece)
        used += 1 + len(piece)

    for index, arg in enumerate(argv):
        if len(arg) * 2 > MAX_EXECVE_AUDIT_LEN:
            put(b"a%d_len=%d" % (index, 2 * len(arg)))
            hexed = arg.hex().upper().encode()
            chunk = MAX_EXECVE_AUDIT_LEN // 2
            for k, start in enumerate(range(0, len(hexed), chunk)):
                put(b"a%d[%d]=" % (index, k) + hexed[start : start + chunk])
        else:
            put(b"a%d=" % index + encode_value(arg))
    return [b" ".join(parts) for parts in records]


def syscall_body(
    pid: int = 1000,
    ppid: int = 1,
    success: bool = True,
    exit_code: int = 0,
    comm: bytes = b"true",
    exe: bytes = b"/usr/bin/true",
    arch: str = "c000003e",
    syscall: int = 59,
    auid: int = 4294967295,
    uid: int = 0,
    tty: str = "(none)",
    ses: int = 4294967295,
    key: bytes | None = b"procmon",
) -> bytes:
    """A SYSCALL record body in the kernel's field order."""
    return (
        (
            f"arch={arch} syscall={syscall} success={'yes' if success else 'no'} exit={exit_code} "
            f"a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid={ppid} pid={pid} auid={auid} uid={uid} gid={uid} "
            f"euid={uid} suid={uid} fsuid={uid} egid={uid} sgid={uid} fsgid={uid} tty={tty} ses={ses} "
        ).encode()
        + b"comm="
        + encode_value(comm)
        + b" exe="
        + encode_value(exe)
        + b" key="
        + (b"(null)" if key is None else encode_value(key))
    )


def log_lines(
    stamp: str, serial: int, argv: list[bytes] | None, *, enriched: bool = False, **syscall: object
) -> list[bytes]:
    """The auditd log lines of one exec event (SYSCALL, EXECVE…, CWD, PATH, PROCTITLE)."""
    head = f"msg=audit({stamp}:{serial}): ".encode()
    extra = b'\x1dARCH=x86_64 SYSCALL=execve AUID="unset" UID="root"' if enriched else b""
    lines = [b"type=SYSCALL " + head + syscall_body(**syscall) + extra]  # type: ignore[arg-type]
    if argv is not None:
        lines += [b"type=EXECVE " + head + body for body in execve_records(argv)]
    lines.append(b"type=CWD " + head + b'cwd="/root"')
    lines.append(b"type=PATH " + head + b'item=0 name="/usr/bin/true" inode=1 dev=fe:00 nametype=NORMAL')
    title = b"\0".join(argv or [b"sh"])[:128]
    lines.append(b"type=PROCTITLE " + head + b"proctitle=" + title.hex().upper().encode())
    return [line + b"\n" for line in lines]
