"""Building an :class:`ExecEvent` from the records of one event.

An exec event is a SYSCALL record whose (arch, syscall) is execve or execveat, plus EXECVE (argv;
absent for failed execs), CWD, PATH (item 0 is the file the exec asked for) and PROCTITLE
(information only: the process sets it itself, so it is never used as argv).

argv comes back byte-exact from the EXECVE records (see :mod:`exectrail.assemble.argv`).

Speed: nearly every SYSCALL record is in the kernel's own field order, which one regex reads; the
parts of it that repeat from event to event (arch and syscall; ids, tty, session, comm, exe, key),
like whole CWD, PATH and PROCTITLE records, are decoded once and looked up afterwards
(:mod:`exectrail.assemble.memo`). Anything else takes the general path. Both give the same events,
diagnostics and errors, evaluated in the same order.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from exectrail.assemble.argv import rebuild_argv
from exectrail.assemble.memo import decoded, remember
from exectrail.model import UNSET_ID, Diagnostics, ExecEvent, Record, new_exec_event, timestamp_to_datetime
from exectrail.parse.fields import decode_proctitle, decode_text, split_fields
from exectrail.parse.types import EXEC_SYSCALLS, arch_name

__all__ = ["build_exec_event", "rebuild_argv", "syscall_values"]


def build_exec_event(records: list[Record], diagnostics: Diagnostics) -> ExecEvent | None:
    """The exec event these records describe, or None when they are not an exec."""
    syscall_rec: Record | None = None
    execve_recs: list[Record] = []
    cwd_rec = path_rec = title_rec = None
    for rec in records:  # the most frequent types first
        rtype = rec.type
        if rtype == "PATH":
            if path_rec is None or rec.body.startswith(b"item=0 "):
                path_rec = rec
        elif rtype == "SYSCALL":
            syscall_rec = rec
        elif rtype == "CWD":
            cwd_rec = rec
        elif rtype == "PROCTITLE":
            title_rec = rec
        elif rtype == "EXECVE":
            execve_recs.append(rec)
    if syscall_rec is None:
        if execve_recs:
            diagnostics.add(
                "execve-without-syscall",
                f"EXECVE record with no SYSCALL record (event {execve_recs[0].key.decode()})",
                execve_recs[0].origin,
            )
        return None
    try:
        body = syscall_rec.body
        head = _KERNEL_HEAD_RE.match(body)
        if head is not None:
            tail = body[head.end() :]
            known = _TAILS.get(tail)
            if known is not None or _SYSCALL_RE.match(body) is not None:
                return _kernel_exec_event(head, tail, known, syscall_rec, execve_recs, cwd_rec, path_rec,
                                          title_rec, diagnostics)  # fmt: skip
        values = syscall_values(syscall_rec.body)
        arch = arch_name((values[0] or b"").decode("ascii", "replace"))
        syscall = EXEC_SYSCALLS.get((arch, int(values[1] or b"-1")))
        if syscall is None:
            return None
        return _exec_event(arch, syscall, values, syscall_rec, execve_recs, cwd_rec, path_rec, title_rec,
                           diagnostics)  # fmt: skip
    except (KeyError, ValueError) as exc:
        diagnostics.add(
            "bad-syscall-record",
            f"SYSCALL record {syscall_rec.key.decode()}: missing or bad field {exc}",
            syscall_rec.origin,
        )
        return None


# The kernel writes SYSCALL fields in a fixed order; this reads them in one match, and
# syscall_values falls back to the general field splitter for anything else (LSM subj fields,
# hand-made logs). Possessive quantifiers (++) match exactly what + would, since each is followed
# by a byte its class excludes, but never backtrack.
_SYSCALL_RE = re.compile(
    rb"arch=(\w++) syscall=(\d++) (?:success=(\w++) exit=(-?\d++) )?a0=\w++ a1=\w++ a2=\w++ a3=\w++ "
    rb"items=\d++ ppid=(\d++) pid=(\d++) auid=(\d++) uid=(\d++) gid=(\d++) euid=(\d++) suid=(\d++) "
    rb"fsuid=(\d++) egid=(\d++) sgid=(\d++) fsgid=(\d++) tty=(\S++) ses=(\d++) comm=(\S++) exe=(\S++) "
    rb"key=(\S++)$"
)
_SYSCALL_NAMES = (b"arch", b"syscall", b"success", b"exit", b"ppid", b"pid", b"auid", b"uid", b"gid",
                  b"euid", b"suid", b"fsuid", b"egid", b"sgid", b"fsgid", b"tty", b"ses", b"comm", b"exe",
                  b"key")  # fmt: skip
_REQUIRED = frozenset({b"arch", b"syscall", b"pid", b"ppid", b"uid", b"gid", b"euid", b"suid", b"fsuid",
                       b"egid", b"sgid", b"fsgid", b"auid"})  # fmt: skip
_DEFAULTS = {b"tty": b"(none)", b"ses": b"4294967295"}


def syscall_values(body: bytes) -> tuple[bytes | None, ...]:
    """The SYSCALL fields exectrail uses, in ``_SYSCALL_NAMES`` order (None when absent)."""
    match = _SYSCALL_RE.match(body)
    if match is not None:
        return match.groups()
    fields = split_fields(body)
    missing = _REQUIRED.difference(fields)
    if missing:
        raise KeyError(b", ".join(sorted(missing)).decode())
    return tuple(fields.get(name, _DEFAULTS.get(name)) for name in _SYSCALL_NAMES)


def _exec_event(
    arch: str,
    syscall: str,
    v: tuple[bytes | None, ...],
    syscall_rec: Record,
    execve_recs: list[Record],
    cwd_rec: Record | None,
    path_rec: Record | None,
    title_rec: Record | None,
    diagnostics: Diagnostics,
) -> ExecEvent:
    """The general path, for SYSCALL records in any field order."""
    key_text = syscall_rec.key
    dot = key_text.index(b".")
    colon = key_text.index(b":", dot)
    ppid, pid, auid, uid, gid, euid, suid, fsuid, egid, sgid, fsgid = (int(x or b"0") for x in v[4:15])
    ses = int(v[16] or b"4294967295")
    tty = v[15]
    key = _decode_key(v[19])
    argc, argv = (None, None) if not execve_recs else rebuild_argv(execve_recs, diagnostics)
    time = _event_time(key_text[:dot], key_text[dot + 1 : colon])
    serial = int(key_text[colon + 1 :])
    exit_raw = v[3]
    exit_code = int(exit_raw) if exit_raw is not None else 0
    cwd, path, title = _record_texts(cwd_rec, path_rec, title_rec)
    return new_exec_event(
        time,
        serial,
        syscall_rec.node,
        arch,
        syscall,
        v[2] == b"yes",
        exit_code,
        pid,
        ppid,
        uid,
        euid,
        suid,
        fsuid,
        gid,
        egid,
        sgid,
        fsgid,
        None if auid == UNSET_ID else auid,
        None if ses == UNSET_ID else ses,
        None if tty is None or tty == b"(none)" else tty.decode("utf-8", "surrogateescape"),
        decode_text(v[17]),
        decode_text(v[18]),
        cwd,
        path,
        argc,
        argv,
        key,
        title,
        False,
    )


# The fields of _SYSCALL_RE up to pid, grouped by what changes from event to event. The rest of the
# record (ids, tty, session, comm, exe and key: the tail) repeats: it is checked with _SYSCALL_RE and
# decoded once per value, then looked up. A match here followed by a tail that _SYSCALL_RE accepted
# once is a match of _SYSCALL_RE (each field's extent is fixed: possessive quantifiers, literal spaces).
_KERNEL_HEAD_RE = re.compile(
    rb"(arch=\w++ syscall=\d++) (?:success=(\w++) exit=(-?\d++) )?a0=\w++ a1=\w++ a2=\w++ a3=\w++ "
    rb"items=\d++ ppid=(\d++) pid=(\d++) "
)
_Head = tuple[str, str | None]  # arch, exec syscall name (None: not an exec)
# ExecEvent's uid, euid, suid, fsuid, gid, egid, sgid, fsgid, auid, ses, tty, comm, exe; and key
_Ids = tuple[
    int, int, int, int, int, int, int, int, int | None, int | None, str | None, str | None, str | None
]
_Tail = tuple[_Ids, str | None]
_HEADS: dict[bytes, _Head] = {}
_TAILS: dict[bytes, _Tail] = {}


def _kernel_exec_event(
    match: re.Match[bytes],
    tail: bytes,
    known: _Tail | None,
    syscall_rec: Record,
    execve_recs: list[Record],
    cwd_rec: Record | None,
    path_rec: Record | None,
    title_rec: Record | None,
    diagnostics: Diagnostics,
) -> ExecEvent | None:
    """What the general path builds, for a SYSCALL record that :data:`_SYSCALL_RE` matches."""
    head, success, exit_raw, ppid, pid = match.groups()
    arch, syscall = _HEADS.get(head) or _head(head, syscall_rec.body)
    if syscall is None:
        return None
    key_text = syscall_rec.key
    seconds_raw, _, rest = key_text.partition(b".")
    ms_raw, colon, serial_raw = rest.partition(b":")
    if not colon:
        _bad_key(key_text)
    ids, key = known or _tail(tail, syscall_rec.body)
    argc, argv = (None, None) if not execve_recs else rebuild_argv(execve_recs, diagnostics)
    second = _SECONDS.get(seconds_raw)
    step = _STEPS.get(ms_raw)
    time = second + step if second is not None and step is not None else _event_time(seconds_raw, ms_raw)
    serial = int(serial_raw)
    exit_code = int(exit_raw) if exit_raw is not None else 0
    cwd, path, title = _record_texts(cwd_rec, path_rec, title_rec)
    return new_exec_event(time, serial, syscall_rec.node, arch, syscall, success == b"yes", exit_code,
                          int(pid), int(ppid), *ids, cwd, path, argc, argv, key, title, False)  # fmt: skip


def _bad_key(key_text: bytes) -> None:
    """Raise the ValueError the general path raises for a key without ``.`` or ``:``."""
    key_text.index(b":", key_text.index(b"."))


def _head(head: bytes, body: bytes) -> _Head:
    """Arch and exec syscall of a SYSCALL record, as build_exec_event finds them."""
    values = syscall_values(body)
    arch = arch_name((values[0] or b"").decode("ascii", "replace"))
    return remember(_HEADS, head, (arch, EXEC_SYSCALLS.get((arch, int(values[1] or b"-1")))))


def _tail(tail: bytes, body: bytes) -> _Tail:
    """The ids, tty, session, comm, exe and key of a SYSCALL record, as _exec_event decodes them."""
    v = syscall_values(body)
    auid, uid, gid, euid, suid, fsuid, egid, sgid, fsgid = (int(x or b"0") for x in v[6:15])
    ses = int(v[16] or b"4294967295")
    tty = v[15]
    ids: _Ids = (
        *(uid, euid, suid, fsuid, gid, egid, sgid, fsgid),
        None if auid == UNSET_ID else auid,
        None if ses == UNSET_ID else ses,
        None if tty is None or tty == b"(none)" else tty.decode("utf-8", "surrogateescape"),
        decode_text(v[17]),
        decode_text(v[18]),
    )
    return remember(_TAILS, tail, (ids, _decode_key(v[19])))


def _decode_key(value: bytes | None) -> str | None:
    """The rule key(s): several keys are logged joined by 0x01."""
    key = decode_text(value)
    return None if key is None else key.replace("\x01", ",")


# Event times: one datetime per second of the log, plus the milliseconds.
_SECONDS: dict[bytes, datetime] = {}
_STEPS = {b"%03d" % ms: timedelta(milliseconds=ms) for ms in range(1000)}


def _event_time(seconds_raw: bytes, ms_raw: bytes) -> datetime:
    """``timestamp_to_datetime(int(seconds_raw), int(ms_raw))``, raising as it does."""
    second = _SECONDS.get(seconds_raw)
    if second is None:
        seconds = int(seconds_raw)
        ms = int(ms_raw)
        second = remember(_SECONDS, seconds_raw, timestamp_to_datetime(seconds, 0))
    else:
        ms = int(ms_raw)
    if 0 <= ms < 1000:
        return second + timedelta(milliseconds=ms)
    return second.replace(microsecond=ms * 1000)  # out of range: the same ValueError


# Whole CWD, PATH and PROCTITLE records, decoded: the same few repeat (a build's directory, the
# binaries it runs, the PATH entries a failed execvp tries).
_CWDS: dict[bytes, str] = {}
_PATHS: dict[bytes, str] = {}
_TITLES: dict[bytes, str] = {}


def _record_texts(
    cwd_rec: Record | None, path_rec: Record | None, title_rec: Record | None
) -> tuple[str | None, str | None, str | None]:
    """cwd, path and proctitle of an exec event."""
    cwd = path = title = None
    if cwd_rec is not None:
        body = cwd_rec.body
        cwd = _CWDS.get(body) or decoded(_CWDS, _cwd_text, body)
    if path_rec is not None:
        body = path_rec.body
        path = _PATHS.get(body) or decoded(_PATHS, _path_text, body)
    if title_rec is not None:
        body = title_rec.body
        title = _TITLES.get(body) or decoded(_TITLES, _title_text, body)
    return cwd, path, title


def _cwd_text(body: bytes) -> str | None:
    return decode_text(_leading_value(body, b"cwd="))


def _path_text(body: bytes) -> str | None:
    return decode_text(_path_name(body))


def _title_text(body: bytes) -> str | None:
    return decode_proctitle(_leading_value(body, b"proctitle="))


def _leading_value(body: bytes, prefix: bytes) -> bytes | None:
    """The value of a record's first field when it is ``prefix`` (CWD, PROCTITLE), else by name."""
    if body.startswith(prefix) and b" " not in body:
        return body[len(prefix) :]
    return split_fields(body).get(prefix[:-1])


def _path_name(body: bytes) -> bytes | None:
    """PATH ``name=`` (values never hold spaces, so the second token is it in kernel output)."""
    parts = body.split(b" ", 2)
    if len(parts) >= 2 and parts[1].startswith(b"name="):
        return parts[1][5:]
    return split_fields(body).get(b"name")
