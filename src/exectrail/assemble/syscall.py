"""The SYSCALL record of an exec event, decoded: who ran it, how, and with what result.

Values are read as the kernel writes them and as other tools rewrite them (``success="yes"``,
``pid="123"``, ``tty="(none)"``). A value that cannot be decoded -- damaged hex, a word where a
number belongs, a number outside the kernel's range (ids are 32-bit, exit a signed 64-bit long) --
is a ``bad-value`` diagnostic and that field alone is None; a missing field is None too.

Two ways, one result: :func:`decode_syscall` reads any field order and reports every problem;
:func:`kernel_syscall` reads the kernel's own order with one regex and memos for the parts that
repeat, and hands anything unusual to the first (:class:`Unusual`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from exectrail.assemble.memo import remember
from exectrail.model import UNSET_ID, Diagnostics, Record
from exectrail.parse.fields import BadValue, decode_int, decode_text, shown, split_fields, unquoted
from exectrail.parse.types import ARCHES, EXEC_SYSCALLS, arch_name

ID_MAX = 0xFFFFFFFF  # uid_t, pid_t and the session id are 32-bit in the kernel
EXIT_MIN, EXIT_MAX = -(2**63), 2**63 - 1  # a syscall's return value is a long
SYSCALL_MAX = 2**31 - 1

# ExecEvent's uid, euid, suid, fsuid, gid, egid, sgid, fsgid, auid, ses, tty, comm, exe
Ids = tuple[
    int | None, int | None, int | None, int | None, int | None, int | None, int | None, int | None,
    int | None, int | None, str | None, str | None, str | None,
]  # fmt: skip
# arch, syscall, success, exit, pid, ppid, ids, key
Syscall = tuple[str | None, str | None, bool | None, int | None, int | None, int | None, Ids, str | None]


class Unusual(Exception):
    """The kernel-order path met something only :func:`decode_syscall` reports properly."""


# The kernel writes SYSCALL fields in a fixed order; this reads them in one match. Possessive
# quantifiers (++) match exactly what + would, since each is followed by a byte its class excludes,
# but never backtrack.
SYSCALL_RE = re.compile(
    rb"arch=(\w++) syscall=(\d++) (?:success=(\w++) exit=(-?\d++) )?a0=\w++ a1=\w++ a2=\w++ a3=\w++ "
    rb"items=\d++ ppid=(\d++) pid=(\d++) auid=(\d++) uid=(\d++) gid=(\d++) euid=(\d++) suid=(\d++) "
    rb"fsuid=(\d++) egid=(\d++) sgid=(\d++) fsgid=(\d++) tty=(\S++) ses=(\d++) comm=(\S++) exe=(\S++) "
    rb"key=(\S++)$"
)
# The fields of SYSCALL_RE up to pid, grouped by what changes from event to event. The rest of the
# record (ids, tty, session, comm, exe and key: the tail) repeats: it is checked with SYSCALL_RE and
# decoded once per value, then looked up. A match here followed by a tail that SYSCALL_RE accepted
# once is a match of SYSCALL_RE (each field's extent is fixed: possessive quantifiers, literal spaces).
KERNEL_HEAD_RE = re.compile(
    rb"(arch=\w++ syscall=\d++) (?:success=(\w++) exit=(-?\d++) )?a0=\w++ a1=\w++ a2=\w++ a3=\w++ "
    rb"items=\d++ ppid=(\d++) pid=(\d++) "
)
_ID_NAMES = (b"uid", b"euid", b"suid", b"fsuid", b"gid", b"egid", b"sgid", b"fsgid")
_REQUIRED = (b"pid", b"ppid", b"auid", *_ID_NAMES)
_HEX_ARCH = re.compile(rb"[0-9A-Fa-f]{1,8}")
_ARCH_NAMES = frozenset(ARCHES.values())
_EXEC_NAMES = {b"execve": "execve", b"execveat": "execveat"}
_Head = tuple[str, str | None]  # arch, exec syscall name (None: not an exec)
_Tail = tuple[Ids, str | None]
_HEADS: dict[bytes, _Head] = {}
_TAILS: dict[bytes, _Tail] = {}
_V = TypeVar("_V")


def decode_arch(value: bytes) -> str:
    """``c000003e`` (quoted or not) → ``x86_64``; unknown codes come back as ``0x…``. A name
    (``x86_64``, as ``ausearch -i`` writes it) is taken as it is."""
    raw = unquoted(value)
    if _HEX_ARCH.fullmatch(raw) is None:
        name = raw.decode("ascii", "replace")
        if name in _ARCH_NAMES:
            return name
        raise BadValue(f"{shown(value)} is not an architecture code (hex)")
    return arch_name(raw.decode("ascii"))


def decode_success(value: bytes) -> bool:
    raw = unquoted(value)
    if raw == b"yes" or raw == b"no":
        return raw == b"yes"
    raise BadValue(f"{shown(value)} is neither yes nor no")


def decode_tty(value: bytes) -> str | None:
    raw = unquoted(value)
    return None if raw == b"(none)" else raw.decode("utf-8", "surrogateescape")


def decode_id(value: bytes) -> int:
    return decode_int(value, 0, ID_MAX)


def decode_exit(value: bytes) -> int:
    return decode_int(value, EXIT_MIN, EXIT_MAX)


def decode_key(value: bytes) -> str | None:
    """The rule key(s): several keys are logged joined by 0x01."""
    key = decode_text(value)
    return None if key is None else key.replace("\x01", ",")


def _unset(number: int | None) -> int | None:
    return None if number == UNSET_ID else number


def decode_syscall(record: Record, has_execve: bool, diagnostics: Diagnostics) -> Syscall | None:
    """The exec fields of a SYSCALL record in any field order, every problem a diagnostic; None
    when it is not an exec (or cannot be told to be one) and no EXECVE record says it is."""
    match = SYSCALL_RE.match(record.body)
    fields = dict(zip(_NAMES, match.groups(), strict=True)) if match else split_fields(record.body)
    where = f"SYSCALL record {record.key.decode('ascii', 'replace')}"
    problems: list[str] = []

    def get(name: bytes, decode: Callable[[bytes], _V]) -> _V | None:
        value = fields.get(name)
        if value is None:
            return None
        try:
            return decode(value)
        except BadValue as bad:
            problems.append(f"{name.decode()}={bad.reason}")
            return None

    arch = get(b"arch", decode_arch)
    named = _EXEC_NAMES.get(unquoted(fields.get(b"syscall") or b""))  # as ausearch -i writes it
    number = None if named else get(b"syscall", lambda v: decode_int(v, 0, SYSCALL_MAX))
    if named:
        syscall: str | None = named
    elif arch is None or number is None:
        if not has_execve:
            lacking = [n.decode() for n in (b"arch", b"syscall") if n not in fields]
            why = "; ".join(problems + ([f"no {' or '.join(lacking)} field"] if lacking else []))
            diagnostics.add("bad-syscall-record", f"{where}: {why}: cannot tell whether it is an exec",
                            record.origin)  # fmt: skip
            return None
        syscall = None
    else:
        syscall = EXEC_SYSCALLS.get((arch, number))
        if syscall is None:
            if not has_execve:
                return None
            why = f"syscall {number} on {arch} is not an exec, yet EXECVE records are present (edited?)"
            diagnostics.add(
                "execve-wrong-syscall", f"{where}: {why}: syscall left empty (null)", record.origin
            )
    success, exit_code = get(b"success", decode_success), get(b"exit", decode_exit)
    pid, ppid = get(b"pid", decode_id), get(b"ppid", decode_id)
    uid, euid, suid, fsuid, gid, egid, sgid, fsgid = (get(name, decode_id) for name in _ID_NAMES)
    auid, ses = _unset(get(b"auid", decode_id)), _unset(get(b"ses", decode_id))
    tty, comm, exe = get(b"tty", decode_tty), get(b"comm", decode_text), get(b"exe", decode_text)
    key = get(b"key", decode_key)
    if problems:
        diagnostics.add("bad-value", f"{where}: {'; '.join(problems)}: left empty (null)", record.origin)
    missing = [name.decode() for name in _REQUIRED if name not in fields]
    if missing:
        diagnostics.add("bad-syscall-record", f"{where}: no {', '.join(missing)} field: left empty (null)",
                        record.origin)  # fmt: skip
    ids: Ids = (uid, euid, suid, fsuid, gid, egid, sgid, fsgid, auid, ses, tty, comm, exe)
    return arch, syscall, success, exit_code, pid, ppid, ids, key


_NAMES = (b"arch", b"syscall", b"success", b"exit", b"ppid", b"pid", b"auid", b"uid", b"gid", b"euid",
          b"suid", b"fsuid", b"egid", b"sgid", b"fsgid", b"tty", b"ses", b"comm", b"exe", b"key")  # fmt: skip


def kernel_syscall(record: Record) -> Syscall | None:
    """What :func:`decode_syscall` gives, the short way, for a SYSCALL record in the kernel's field
    order with nothing unusual in it; raises :class:`Unusual` for anything else."""
    body = record.body
    match = KERNEL_HEAD_RE.match(body)
    if match is None:
        raise Unusual
    head, success, exit_raw, ppid, pid = match.groups()
    arch, syscall = _HEADS.get(head) or _head(head)
    if syscall is None:
        return None
    tail = body[match.end() :]
    ids, key = _TAILS.get(tail) or _tail(tail, body)
    if success == b"yes":
        yes: bool | None = True
    elif success == b"no":
        yes = False
    elif success is None:
        yes = None
    else:
        raise Unusual
    pid_number, ppid_number = int(pid), int(ppid)
    if pid_number > ID_MAX or ppid_number > ID_MAX:
        raise Unusual
    if exit_raw is None:
        exit_code = None
    else:
        exit_code = int(exit_raw)
        if len(exit_raw) > 18 and not EXIT_MIN <= exit_code <= EXIT_MAX:
            raise Unusual
    return arch, syscall, yes, exit_code, pid_number, ppid_number, ids, key


def _head(head: bytes) -> _Head:
    """Arch and exec syscall of ``arch=… syscall=…``, as decode_syscall finds them."""
    arch_raw, _, number_raw = head.partition(b" syscall=")
    try:
        arch = decode_arch(arch_raw[5:])
        number = decode_int(number_raw, 0, SYSCALL_MAX)
    except BadValue:
        raise Unusual from None
    return remember(_HEADS, head, (arch, EXEC_SYSCALLS.get((arch, number))))


def _tail(tail: bytes, body: bytes) -> _Tail:
    """The ids, tty, session, comm, exe and key of a SYSCALL record, as decode_syscall decodes them."""
    match = SYSCALL_RE.match(body)
    if match is None:
        raise Unusual
    v = match.groups()
    try:
        auid, uid, gid, euid, suid, fsuid, egid, sgid, fsgid = (decode_id(x) for x in v[6:15])
        ses = decode_id(v[16])
        ids: Ids = (
            *(uid, euid, suid, fsuid, gid, egid, sgid, fsgid),
            _unset(auid),
            _unset(ses),
            decode_tty(v[15]),
            decode_text(v[17]),
            decode_text(v[18]),
        )
        key = decode_key(v[19])
    except BadValue:
        raise Unusual from None
    return remember(_TAILS, tail, (ids, key))
