"""Building an :class:`ExecEvent` from the records of one event.

An exec event is a SYSCALL record whose (arch, syscall) is execve or execveat, plus EXECVE (argv;
absent for failed execs), CWD, PATH (item 0 is the file the exec asked for) and PROCTITLE
(information only: the process sets it itself, so it is never used as argv).

argv comes back byte-exact from the EXECVE records (see :mod:`exectrail.assemble.argv`), the
SYSCALL fields from :mod:`exectrail.assemble.syscall`. Nothing is dropped: EXECVE records whose
SYSCALL record is missing (removed from the log, lost) still give an event, with the SYSCALL fields
None. An event is ``incomplete`` when records are known to be missing: no SYSCALL, no EXECVE for a
successful exec, no CWD or PROCTITLE (the kernel writes both for every exec), or argv short of
what the kernel announced (``argc``, ``aN_len``).

Speed: nearly every SYSCALL record is in the kernel's own field order, read the short way; whole
CWD, PATH and PROCTITLE records are decoded once and looked up afterwards
(:mod:`exectrail.assemble.memo`). Both ways give the same events and diagnostics, in the same order.

The fields after ``incomplete`` (``script`` … ``env_missing``, :data:`~exectrail.schema.CONTEXT_FIELDS`)
are context computed by a layer above this one (:mod:`exectrail.enrich`): the caller passes it as a
:data:`ContextHook`, which gets the event's :class:`ExecFacts` and returns their values. Without one
they are :data:`NO_CONTEXT`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from exectrail.assemble.argv import rebuild_argv
from exectrail.assemble.memo import decoded, remember
from exectrail.assemble.syscall import Syscall, Unusual, decode_syscall, kernel_syscall
from exectrail.model import Diagnostics, ExecEvent, Record, new_exec_event
from exectrail.parse.fields import BadValue, decode_proctitle, decode_text, split_fields
from exectrail.schema import CONTEXT_FIELDS, LIST
from exectrail.timefmt import timestamp_to_datetime

__all__ = ["NO_CONTEXT", "ContextHook", "ExecFacts", "build_exec_event", "rebuild_argv"]

_NO_IDS = (None,) * 13
_new_tuple = tuple.__new__


class ExecFacts(NamedTuple):
    """What a :data:`ContextHook` gets of one exec event: its own fields and records."""

    time: datetime
    serial: int
    node: str | None
    syscall: str | None
    success: bool | None
    pid: int | None
    ppid: int | None
    #: uid, euid, suid, fsuid, gid, egid, sgid, fsgid, auid, ses, tty, comm, exe (as in the event)
    ids: tuple[Any, ...]
    argv: tuple[bytes, ...] | None
    cwd: str | None
    #: every PATH name in item order (None for one that cannot be decoded)
    paths: list[str | None]
    #: the PATH records, in the same order
    path_records: list[Record]
    #: the SYSCALL record's interpreted part (auditd's ENRICHED format), when the log had one
    interpreted: bytes | None

    @property
    def exe(self) -> str | None:
        exe: str | None = self.ids[12]
        return exe


#: An exec event's facts -> the values of its context fields (:data:`~exectrail.schema.CONTEXT_FIELDS`,
#: in their order).
ContextHook = Callable[[ExecFacts], tuple[Any, ...]]
#: The context of an event built without a hook: none (no script, no flags, no ids, nothing live).
NO_CONTEXT: tuple[Any, ...] = tuple(() if f.kind == LIST else None for f in CONTEXT_FIELDS)


def build_exec_event(
    records: list[Record], diagnostics: Diagnostics, context: ContextHook | None = None
) -> ExecEvent | None:
    """The exec event these records describe, or None when they are not an exec; ``context``
    fills its context fields (see the module docstring)."""
    syscall_rec: Record | None = None
    execve_recs: list[Record] = []
    path_recs: list[Record] = []
    cwd_rec = path_rec = title_rec = None
    for rec in records:  # the most frequent types first
        rtype = rec.type
        if rtype == "PATH":
            path_recs.append(rec)
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
        if not execve_recs:
            return None
        first = execve_recs[0]
        diagnostics.add(
            "execve-without-syscall",
            f"event {_shown_key(first.key)}: EXECVE record with no SYSCALL record: who ran it and "
            "its result are unknown",
            first.origin,
        )
        fields: Syscall = (None, None, None, None, None, None, _NO_IDS, None)
    else:
        first = syscall_rec
        try:
            found = kernel_syscall(syscall_rec)
            if found is None and execve_recs:  # EXECVE records, yet not an exec syscall: say so
                raise Unusual
        except Unusual:
            found = decode_syscall(syscall_rec, bool(execve_recs), diagnostics)
        if found is None:
            return None
        fields = found
    try:  # _event_time_serial(first.key), the usual case inline
        seconds_raw, _, rest = first.key.partition(b".")
        ms_raw, colon, serial_raw = rest.partition(b":")
        second = _SECONDS.get(seconds_raw)
        step = _STEPS.get(ms_raw)
        if second is not None and step is not None and colon:
            time, serial = second + step, int(serial_raw)
        else:
            time, serial = _event_time_serial(first.key)
    except (ValueError, OverflowError, OSError):
        diagnostics.add("bad-syscall-record", f"event {_shown_key(first.key)}: bad time or serial",
                        first.origin)  # fmt: skip
        return None
    arch, syscall, success, exit_code, pid, ppid, ids, key = fields
    argc, argv, intact = (None, None, True) if not execve_recs else rebuild_argv(execve_recs, diagnostics)
    cwd, path, title = _record_texts(cwd_rec, path_rec, title_rec, diagnostics)
    incomplete = (
        syscall_rec is None
        or not intact
        or cwd_rec is None
        or title_rec is None
        or (success is True and not execve_recs)
    )
    if context is None:
        values = NO_CONTEXT
    else:
        if path_recs:
            names = _path_names(path_recs, path_rec, path)
            if path_recs[0] is not path_rec:
                path_recs = sorted(path_recs, key=_item_number)
        else:
            names = []
        interpreted = syscall_rec.interpreted if syscall_rec is not None else None
        facts = (time, serial, first.node, syscall, success, pid, ppid, ids, argv, cwd, names, path_recs,
                 interpreted)  # fmt: skip
        values = context(_new_tuple(ExecFacts, facts))  # ExecFacts(*facts) without its Python __new__
    return new_exec_event(time, serial, first.node, arch, syscall, success, exit_code, pid, ppid, *ids,
                          cwd, path, argc, argv, key, title, incomplete, *values)  # fmt: skip


def _path_names(path_recs: list[Record], first: Record | None, first_name: str | None) -> list[str | None]:
    """Every PATH record's name in item order, ``first_name`` (item 0's, already decoded) included.
    Items past 0 that cannot be decoded are None, with no diagnostic: they are not fields of the
    event. The kernel writes them in item order; when item 0 is not first (records reordered on
    the way), they are sorted by item."""
    if path_recs[0] is not first:
        path_recs = sorted(path_recs, key=_item_number)
    names: list[str | None] = []
    for rec in path_recs:
        if rec is first:
            names.append(first_name)
            continue
        name = _PATHS.get(rec.body)
        if name is None:
            try:
                name = decoded(_PATHS, _path_text, rec.body)
            except BadValue:
                name = None
        names.append(name)
    return names


def _item_number(rec: Record) -> int:
    """A PATH record's ``item=`` (records without one last, in their order)."""
    item = split_fields(rec.body).get(b"item", b"")
    return int(item) if item.isdigit() else 1 << 31


def _shown_key(key: bytes) -> str:
    return key.decode("ascii", "replace")


def _event_time_serial(key: bytes) -> tuple[datetime, int]:
    """Time and serial of ``b"SEC.MS:SERIAL"``; ValueError when it is not one."""
    seconds_raw, _, rest = key.partition(b".")
    ms_raw, colon, serial_raw = rest.partition(b":")
    if not colon:
        raise ValueError(key)
    second = _SECONDS.get(seconds_raw)
    step = _STEPS.get(ms_raw)
    time = second + step if second is not None and step is not None else _event_time(seconds_raw, ms_raw)
    return time, int(serial_raw)


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
    cwd_rec: Record | None, path_rec: Record | None, title_rec: Record | None, diagnostics: Diagnostics
) -> tuple[str | None, str | None, str | None]:
    """cwd, path and proctitle of an exec event (a value that cannot be decoded is None)."""
    cwd = path = title = None
    if cwd_rec is not None:
        cwd = _CWDS.get(cwd_rec.body) or _text(_CWDS, _cwd_text, cwd_rec, "cwd", diagnostics)
    if path_rec is not None:
        path = _PATHS.get(path_rec.body) or _text(_PATHS, _path_text, path_rec, "name", diagnostics)
    if title_rec is not None:
        title = _TITLES.get(title_rec.body) or _text(
            _TITLES, _title_text, title_rec, "proctitle", diagnostics
        )
    return cwd, path, title


def _text(
    memo: dict[bytes, str],
    decode: Callable[[bytes], str | None],
    record: Record,
    name: str,
    diagnostics: Diagnostics,
) -> str | None:
    try:
        return decoded(memo, decode, record.body)
    except BadValue as bad:
        where = f"{record.type} record {_shown_key(record.key)}"
        diagnostics.add("bad-value", f"{where}: {name}={bad.reason}: left empty (null)", record.origin)
        return None


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
