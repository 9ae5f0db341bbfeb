"""Exec events as OCSF Process Activity (class 1007, Launch), alarms as OCSF Detection Finding (2004).

:func:`event_to_ocsf` and :func:`alarm_to_ocsf` turn the JSON object exectrail writes (``--format
jsonl``) into an event of OCSF schema :data:`OCSF_VERSION` with the ``host``, ``linux/linux_users``
and ``container`` profiles; what OCSF has no attribute for goes under ``unmapped``. docs/formats.md
has the whole mapping. Pure functions, no I/O; attributes without a value are left out, and a value
of the wrong type is left out too (hostile input never raises).
"""

from __future__ import annotations

import calendar
import errno
import functools
import hashlib
from datetime import UTC, datetime
from typing import Any, Final

from exectrail import __version__
from exectrail.interference.kinds import DESCRIPTIONS
from exectrail.output.ecs import (
    CONTEXT_TEXTS,
    HostInfo,
    basename,
    compact,
    copy_texts,
    event_host,
    keyword,
    pruned,
    put,
    put_extras,
    shell_line,
    strings,
    text,
    whole,
)

OCSF_VERSION: Final = "1.5.0"
PROFILES: Final = ("host", "linux/linux_users", "container")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
#: fingerprint.algorithm_id 3 is SHA-256; file.type_id 1 is Regular File; os.type_id 200 is Linux.
SHA256_ID: Final = 3
REGULAR_FILE: Final = 1
LINUX: Final = 200
#: status_id of a launch: 1 Success, 2 Failure, 0 Unknown.
_STATUS: Final = {True: (1, "Success"), False: (2, "Failure"), None: (0, "Unknown")}
#: severity_id and confidence_id of an alarm by certainty: High (4/3) when certain, Medium (3/2) else.
_ALARM_LEVELS: Final = {"certain": (4, "High", 3, "High"), "suspicious": (3, "Medium", 2, "Medium")}


def integer(value: object) -> int | None:
    """``value`` when it is an int that fits OCSF's ``integer_t`` (signed 32-bit), else None."""
    return value if type(value) is int and _INT_MIN <= value <= _INT_MAX else None


@functools.lru_cache(maxsize=4096)
def _epoch_seconds(prefix: str) -> int | None:
    try:
        return calendar.timegm(datetime.strptime(prefix, "%Y-%m-%dT%H:%M:%S").timetuple())
    except ValueError:
        return None


def epoch_ms(value: object) -> int | None:
    """Milliseconds since the epoch of an ISO 8601 time (``2026-11-25T14:40:47.506Z``; one without
    a zone is UTC), None when ``value`` is not one."""
    if type(value) is not str:
        return None
    if len(value) == 24 and value[19] == "." and value[23] == "Z" and value[20:23].isdigit():
        seconds = _epoch_seconds(value[:19])
        if seconds is not None:
            return seconds * 1000 + int(value[20:23])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def device(node: object, host: HostInfo) -> dict[str, Any]:
    """The OCSF device: this host (name and machine-id), or the event's ``node`` when it names
    another one; type Unknown (exectrail does not know what kind of machine it is)."""
    name, uid = event_host(node, host)
    out = pruned({"hostname": name, "uid": uid, "type_id": 0, "type": "Unknown"})
    if host.os_type == "linux":
        out["os"] = {"name": "Linux", "type_id": LINUX, "type": "Linux"}
    return out


def product() -> dict[str, str]:
    """The OCSF product of every event (a new dict: callers may change theirs)."""
    return {"name": "exectrail", "vendor_name": "exectrail", "version": __version__}


def _exe_file(exe: str | None, exe_hash: dict[str, Any] | None) -> dict[str, Any] | None:
    name = basename(exe)
    if name is None:
        return None
    out: dict[str, Any] = {"name": name, "path": exe, "type_id": REGULAR_FILE, "type": "Regular File"}
    if exe_hash is not None:
        if type(exe_hash.get("sha256")) is str:
            out["hashes"] = [{"algorithm_id": SHA256_ID, "algorithm": "SHA-256", "value": exe_hash["sha256"]}]
        put(out, "modified_time", epoch_ms(exe_hash.get("mtime")))
    return out


def _parent_process(event: dict[str, Any], parent: dict[str, Any] | None) -> dict[str, Any]:
    pid = integer(event.get("ppid"))
    uid = text(event.get("parent_exec_id"))
    if parent is None:
        return pruned({"pid": pid, "uid": uid})
    exe = text(parent.get("exe"))
    out = pruned(
        {
            "pid": pid if pid is not None else integer(parent.get("pid")),
            "uid": uid or text(parent.get("exec_id")),
            "name": basename(exe),
            "cmd_line": shell_line(strings(parent.get("argv"))),
            "created_time": epoch_ms(parent.get("time")),
        }
    )
    put(out, "file", _exe_file(exe, None))
    return out


def _user(uid: object, name: object) -> dict[str, Any] | None:
    """An OCSF user (or group): ``{uid, name}``, None when it has neither."""
    ident = keyword(uid)
    if type(name) is not str:
        return None if ident is None else {"uid": ident}
    return {"name": name} if ident is None else {"uid": ident, "name": name}


def _process(event: dict[str, Any], parent_process: dict[str, Any], exe_hash: Any) -> dict[str, Any]:
    g = event.get
    ses, tty = keyword(g("ses")), text(g("tty"))
    out = pruned(
        {
            "pid": integer(g("pid")),
            "uid": text(g("exec_id")),
            "name": text(g("comm")),
            "cmd_line": shell_line(strings(g("argv"))),
            "working_directory": text(g("cwd")),
            "auid": integer(g("auid")),
            "euid": integer(g("euid")),
            "egid": integer(g("egid")),
            "user": _user(g("uid"), g("uid_name")),
            "group": _user(g("gid"), g("gid_name")),
            "file": _exe_file(text(g("exe")), exe_hash),
            "session": pruned({"uid": ses, "terminal": tty}) if ses is not None or tty is not None else None,
        }
    )
    env = g("env")
    if type(env) is dict:
        put(
            out,
            "environment_variables",
            [{"name": k, "value": v} for k, v in env.items() if type(k) is str and type(v) is str],
        )
    container_id = text(g("container_id"))
    if container_id:
        out["container"] = pruned({"uid": container_id, "runtime": text(g("container_runtime"))})
    put(out, "parent_process", parent_process)
    return out


#: Event fields copied as they are under ``unmapped`` when set, beside :data:`CONTEXT_TEXTS`.
_UNMAPPED_TEXTS: Final = ("arch", "syscall", "euid_name", "key", "proctitle", *CONTEXT_TEXTS)
_UNMAPPED_INTS: Final = ("serial", "exit", "uid", "suid", "fsuid", "sgid", "fsgid", "argc")


def _unmapped(event: dict[str, Any], parent: dict[str, Any] | None, exe_hash: Any) -> dict[str, Any]:
    g = event.get
    out: dict[str, Any] = {}
    for key in _UNMAPPED_INTS:
        value = whole(g(key))
        if value is not None:
            out[key] = value
    copy_texts(event, out, _UNMAPPED_TEXTS)
    hash_times = None
    if exe_hash is not None:  # (mtime is the file's modified_time)
        hash_times = {"ctime": text(exe_hash.get("ctime")), "hashed_at": text(exe_hash.get("hashed_at"))}
    put_extras(event, out, parent, exe_hash, hash_times)
    return out


def event_to_ocsf(event: dict[str, Any], host: HostInfo) -> dict[str, Any]:
    """The OCSF Process Activity (Launch) event of one exec event (its ``--format jsonl`` object)."""
    g = event.get
    success = g("success")
    status_id, status = _STATUS[success] if success is True or success is False else _STATUS[None]
    parent = g("parent")
    parent = parent if type(parent) is dict else None
    exe_hash = g("exe_hash")
    exe_hash = exe_hash if type(exe_hash) is dict else None
    exit_code = whole(g("exit"))
    when = text(g("time"))
    key = text(g("key"))
    parent_process = _parent_process(event, parent)
    out: dict[str, Any] = {
        "class_uid": 1007,
        "class_name": "Process Activity",
        "category_uid": 1,
        "category_name": "System Activity",
        "activity_id": 1,
        "activity_name": "Launch",
        "type_uid": 100701,
        "type_name": "Process Activity: Launch",
        "severity_id": 1,
        "severity": "Informational",
        "status_id": status_id,
        "status": status,
    }
    put(out, "time", epoch_ms(when))
    if exit_code is not None:
        out["status_code"] = str(exit_code)
        if exit_code < 0:
            put(out, "status_detail", errno.errorcode.get(-exit_code))
    out["metadata"] = pruned(
        {
            "version": OCSF_VERSION,
            "product": product(),
            "uid": text(g("exec_id")),
            "sequence": integer(g("serial")),
            "profiles": list(PROFILES),
            "original_time": when,
            "labels": key.split(",") if key else None,
        }
    )
    out["process"] = _process(event, parent_process, exe_hash)
    actor: dict[str, Any] = {}
    put(actor, "process", parent_process)
    put(actor, "user", _user(g("auid"), g("auid_name")))
    out["actor"] = actor
    out["device"] = device(g("node"), host)
    put(out, "unmapped", _unmapped(event, parent, exe_hash))
    return out


def finding_uid(alarm: dict[str, Any]) -> str:
    """A stable id of an alarm (its kind, time, host and summary): the same alarm found twice (by
    ``review`` and ``watch``) has the same id."""
    parts = [str(alarm.get(k)) for k in ("kind", "time", "host", "summary")]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def alarm_to_ocsf(alarm: dict[str, Any], host: HostInfo) -> dict[str, Any]:
    """The OCSF Detection Finding (Create) of one alarm: the alarm kind is the analytic, its summary
    the title, details and evidence lines the evidence ``data``."""
    g = alarm.get
    kind = text(g("kind"))
    certainty = text(g("certainty"))
    severity_id, severity, confidence_id, confidence = _ALARM_LEVELS.get(
        certainty or "", (0, "Unknown", 0, "Unknown")
    )
    when = epoch_ms(g("time"))
    uid = finding_uid(alarm)
    info = compact(
        uid=uid,
        title=text(g("summary")),
        desc=DESCRIPTIONS.get(kind) if kind is not None else None,
        types=[kind] if kind else None,
        created_time=when,
    )
    if kind:
        info["analytic"] = {"name": kind, "uid": kind, "type_id": 1, "type": "Rule"}
    out: dict[str, Any] = {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "confidence_id": confidence_id,
        "confidence": confidence,
        "status_id": 1,
        "status": "New",
        "is_alert": True,
    }
    put(out, "time", when)
    put(out, "message", text(g("summary")))
    out["finding_info"] = info
    out["metadata"] = pruned(
        {"version": OCSF_VERSION, "product": product(), "uid": uid, "original_time": text(g("time"))}
    )
    out["device"] = device(g("host"), host)
    details = g("details")
    data = compact(
        details=details if type(details) is dict and details else None,
        evidence=strings(g("evidence")) or None,
    )
    if data:
        out["evidences"] = [{"data": data}]
    unmapped = compact(
        certainty=certainty,
        host_hex=text(g("host_hex")),
        summary_hex=text(g("summary_hex")),
        evidence_hex=strings(g("evidence_hex")),
    )
    put(out, "unmapped", unmapped)
    return out
