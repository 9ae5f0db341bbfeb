"""Building an :class:`ExecEvent` from the records of one event.

An exec event is a SYSCALL record whose (arch, syscall) is execve or execveat, plus EXECVE (argv;
absent for failed execs), CWD, PATH (item 0 is the file the exec asked for) and PROCTITLE
(information only: the process sets it itself, so it is never used as argv).

argv comes back byte-exact from the EXECVE records: quoted or hex values, ``aN_len`` with
``aN[k]`` chunks for long arguments, and continuation over several EXECVE records. ``argc`` is
checked against what was found; a mismatch is a diagnostic, never an exception.
"""

from __future__ import annotations

import re

from exectrail.model import UNSET_ID, Diagnostics, ExecEvent, Record, timestamp_to_datetime
from exectrail.parse.fields import decode_proctitle, decode_text, decode_value, field_pairs, split_fields
from exectrail.parse.types import EXEC_SYSCALLS, arch_name


def build_exec_event(records: list[Record], diagnostics: Diagnostics) -> ExecEvent | None:
    """The exec event these records describe, or None when they are not an exec."""
    syscall_rec: Record | None = None
    execve_recs: list[Record] = []
    cwd_rec = path_rec = title_rec = None
    for rec in records:
        rtype = rec.type
        if rtype == "SYSCALL":
            syscall_rec = rec
        elif rtype == "EXECVE":
            execve_recs.append(rec)
        elif rtype == "PATH" and (path_rec is None or rec.body.startswith(b"item=0 ")):
            path_rec = rec
        elif rtype == "CWD":
            cwd_rec = rec
        elif rtype == "PROCTITLE":
            title_rec = rec
    if syscall_rec is None:
        if execve_recs:
            diagnostics.add(
                "execve-without-syscall",
                f"EXECVE record with no SYSCALL record (event {execve_recs[0].key.decode()})",
                execve_recs[0].origin,
            )
        return None
    try:
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


# The kernel writes SYSCALL fields in a fixed order; this fast path reads them in one match and
# falls back to the general field splitter for anything else (LSM subj fields, hand-made logs).
_SYSCALL_RE = re.compile(
    rb"arch=(\w+) syscall=(\d+) (?:success=(\w+) exit=(-?\d+) )?a0=\w+ a1=\w+ a2=\w+ a3=\w+ items=\d+ "
    rb"ppid=(\d+) pid=(\d+) auid=(\d+) uid=(\d+) gid=(\d+) euid=(\d+) suid=(\d+) fsuid=(\d+) "
    rb"egid=(\d+) sgid=(\d+) fsgid=(\d+) tty=(\S+) ses=(\d+) comm=(\S+) exe=(\S+) key=(\S+)$"
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
    key_text = syscall_rec.key
    dot = key_text.index(b".")
    colon = key_text.index(b":", dot)
    ppid, pid, auid, uid, gid, euid, suid, fsuid, egid, sgid, fsgid = (int(x or b"0") for x in v[4:15])
    ses = int(v[16] or b"4294967295")
    tty = v[15]
    key = decode_text(v[19])
    argc, argv = (None, None) if not execve_recs else rebuild_argv(execve_recs, diagnostics)
    exit_raw = v[3]
    return ExecEvent(
        timestamp_to_datetime(int(key_text[:dot]), int(key_text[dot + 1 : colon])),
        int(key_text[colon + 1 :]),
        syscall_rec.node,
        arch,
        syscall,
        v[2] == b"yes",
        int(exit_raw) if exit_raw is not None else 0,
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
        None if cwd_rec is None else decode_text(_leading_value(cwd_rec.body, b"cwd=")),
        None if path_rec is None else decode_text(_path_name(path_rec.body)),
        argc,
        argv,
        None if key is None else key.replace("\x01", ","),
        None if title_rec is None else decode_proctitle(_leading_value(title_rec.body, b"proctitle=")),
    )


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


def rebuild_argv(records: list[Record], diagnostics: Diagnostics) -> tuple[int | None, tuple[bytes, ...]]:
    """argc and argv from the EXECVE records of one event (in log order)."""
    argc: int | None = None
    single: dict[int, bytes] = {}
    chunks: dict[int, dict[int, bytes]] = {}
    lengths: dict[int, int] = {}
    event = records[0].key.decode()
    for rec in records:
        for name, value in field_pairs(rec.body):
            if name == b"argc":
                argc = _int_or_none(value)
                continue
            if name[:1] != b"a":
                diagnostics.add("execve-unknown-field", f"event {event}: field {name!r}", rec.origin)
                continue
            rest = name[1:]
            try:
                if rest.isdigit():
                    single[int(rest)] = value
                elif rest.endswith(b"_len"):
                    lengths[int(rest[:-4])] = int(value)
                elif rest.endswith(b"]"):
                    number, _, part = rest[:-1].partition(b"[")
                    chunks.setdefault(int(number), {})[int(part)] = value
                else:
                    raise ValueError(name)
            except ValueError:
                diagnostics.add("execve-unknown-field", f"event {event}: field {name!r}", rec.origin)
    declared = argc if argc is not None else max([*single, *chunks], default=-1) + 1
    argv: list[bytes] = []
    for index in range(declared):
        encoded = single.get(index)
        if encoded is not None:
            raw = decode_value(encoded)
            argv.append(raw if raw is not None else b"")
            continue
        parts = chunks.get(index)
        if parts is None:
            diagnostics.add("argc-mismatch", f"event {event}: argc={declared} but a{index} is missing")
            break
        argv.append(_join_chunks(parts, lengths.get(index), event, index, diagnostics))
    if argc is None:
        diagnostics.add("execve-no-argc", f"event {event}: EXECVE without argc")
    elif max([*single, *chunks], default=-1) >= argc:
        diagnostics.add("argc-mismatch", f"event {event}: argc={argc} but more arguments were logged")
    return argc, tuple(argv)


def _join_chunks(
    parts: dict[int, bytes], logged_len: int | None, event: str, index: int, diagnostics: Diagnostics
) -> bytes:
    """Join ``aN[k]`` chunks. ``aN_len`` counts the characters logged: bytes for quoted chunks (a
    printable argument under 7,500 bytes that did not fit the record), hex digits otherwise."""
    pieces = []
    logged = 0
    for k in range(len(parts)):
        piece = parts.get(k)
        if piece is None:
            diagnostics.add("argv-chunk-missing", f"event {event}: a{index}[{k}] is missing")
            break
        raw = decode_value(piece)
        pieces.append(raw if raw is not None else b"")
        logged += len(piece) - 2 if piece[:1] == b'"' else len(piece)
    if logged_len is not None and logged_len != logged:
        diagnostics.add(
            "argv-length-mismatch",
            f"event {event}: a{index}_len={logged_len} but {logged} characters were logged",
        )
    return b"".join(pieces)


def _int_or_none(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
