"""Exec events and alarms in the Elastic Common Schema, as auditbeat's auditd module users know them.

:func:`event_to_ecs` and :func:`alarm_to_ecs` turn the JSON object exectrail writes (``--format
jsonl``) into a nested ECS document: ``process.*`` (ECS 8.11), ``user.*`` as auditbeat lays it out
(``user.audit`` is the login uid, ``user.saved`` and ``user.filesystem`` auditbeat's own fields),
``auditd.*`` for what auditbeat keeps there, ``exectrail.*`` for what neither has a field for.
docs/formats.md has the whole mapping. Pure functions, no I/O; keys without a value are left out,
and a value of the wrong type is left out too (hostile input never raises).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from exectrail.interference.kinds import DESCRIPTIONS

#: The ECS version the documents follow (every field used is in ECS 8.11.0 and unchanged in 9.x).
ECS_VERSION: Final = "8.11.0"
MODULE: Final = "exectrail"
#: Elastic's detection-rule severities (medium 47, high 73) for an alarm's certainty.
ALARM_SEVERITY: Final = {"certain": 73, "suspicious": 47}
#: The ``NAME_hex`` companions an exec event may carry (text that is not UTF-8).
HEX_FIELDS: Final = (
    "argv", "node", "tty", "comm", "exe", "cwd", "path", "key", "proctitle", "script",
)  # fmt: skip
_HEX_KEYS: Final = tuple((name, f"{name}_hex") for name in HEX_FIELDS)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The host exectrail runs on: its name, its machine-id (/etc/machine-id) and OS type."""

    hostname: str | None = None
    host_id: str | None = None
    os_type: str = "linux"


def text(value: object) -> str | None:
    """``value`` when it is a string, else None."""
    return value if type(value) is str else None


def whole(value: object) -> int | None:
    """``value`` when it is an int that fits a signed 64-bit ``long``, else None (bool is not)."""
    return value if type(value) is int and _LONG_MIN <= value <= _LONG_MAX else None


def keyword(value: object) -> str | None:
    """A numeric id for a ``keyword`` field: an int as its decimal text, else None."""
    return str(value) if type(value) is int else None


def date(value: object) -> str | None:
    """``value`` when it is an ISO 8601 time (as exectrail writes them), else None."""
    if type(value) is not str:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def strings(value: object) -> list[str] | None:
    """``value`` when it is a list of strings, else None."""
    if type(value) is list and all(type(v) is str for v in value):
        return value
    return None


def basename(path: str | None) -> str | None:
    """The last component of ``path`` (None for None, an empty path or one ending in ``/``)."""
    if not path:
        return None
    return path.rpartition("/")[2] or None


def shell_line(argv: list[str] | None) -> str | None:
    """argv as one shell-quoted command line (as ``--format csv`` writes it)."""
    return shlex.join(argv) if argv else None


def pruned(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without its None values (the same dict when it has none: the common case)."""
    if None not in values.values():
        return values
    return {k: v for k, v in values.items() if v is not None}


def compact(**values: Any) -> dict[str, Any]:
    """The given keys whose value is not None."""
    return pruned(values)


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """``out[key] = value`` unless value is None or an empty dict/list."""
    if value is not None and value != {} and value != []:
        out[key] = value


def event_host(node: object, host: HostInfo) -> tuple[str | None, str | None]:
    """(host name, host id) of an event: the event's ``node`` when it names another host (then its
    machine-id is unknown), else this host's name and machine-id."""
    if type(node) is str and node and node != host.hostname:
        return node, None
    return host.hostname, host.host_id


def named(ident: str | None, name: object = None) -> dict[str, Any] | None:
    """``{id, name}`` of one credential, None when it has neither."""
    if type(name) is not str:
        return None if ident is None else {"id": ident}
    return {"name": name} if ident is None else {"id": ident, "name": name}


class _Ids:
    """The credentials of an event as ECS keyword text, each converted once."""

    __slots__ = ("auid", "egid", "euid", "fsgid", "fsuid", "gid", "sgid", "suid", "uid")

    def __init__(self, g: Any) -> None:
        self.uid, self.euid, self.suid = keyword(g("uid")), keyword(g("euid")), keyword(g("suid"))
        self.gid, self.egid, self.sgid = keyword(g("gid")), keyword(g("egid")), keyword(g("sgid"))
        self.fsuid, self.fsgid, self.auid = keyword(g("fsuid")), keyword(g("fsgid")), keyword(g("auid"))


def _parent(event: dict[str, Any], parent: dict[str, Any] | None) -> dict[str, Any]:
    pid = whole(event.get("ppid"))
    entity_id = text(event.get("parent_exec_id"))
    if parent is None:
        return pruned({"pid": pid, "entity_id": entity_id})
    exe = text(parent.get("exe"))
    argv = strings(parent.get("argv"))
    return pruned(
        {
            "pid": pid if pid is not None else whole(parent.get("pid")),
            "entity_id": entity_id or text(parent.get("exec_id")),
            "executable": exe,
            "name": basename(exe),
            "args": argv,
            "args_count": len(argv) if argv is not None else None,
            "command_line": shell_line(argv),
            "start": date(parent.get("time")),
        }
    )


def _process(event: dict[str, Any], ids: _Ids, parent: Any, exe_hash: Any) -> dict[str, Any]:
    g = event.get
    argv = strings(g("argv"))
    argc = whole(g("argc"))
    out = pruned(
        {
            "pid": whole(g("pid")),
            "entity_id": text(g("exec_id")),
            "executable": text(g("exe")),
            "name": text(g("comm")),
            "args": argv,
            "args_count": argc if argc is not None else (len(argv) if argv is not None else None),
            "command_line": shell_line(argv),
            "working_directory": text(g("cwd")),
            "title": text(g("proctitle")),
            "user": named(ids.euid, g("euid_name")),
            "real_user": named(ids.uid, g("uid_name")),
            "saved_user": named(ids.suid),
            "real_group": named(ids.gid, g("gid_name")),
            "saved_group": named(ids.sgid),
        }
    )
    if exe_hash is not None and type(exe_hash.get("sha256")) is str:
        out["hash"] = {"sha256": exe_hash["sha256"]}
    env = g("env")
    if type(env) is dict:
        put(out, "env_vars", [f"{k}={v}" for k, v in env.items() if type(k) is str and type(v) is str])
    put(out, "parent", _parent(event, parent))
    return out


def _with_group(user: dict[str, Any] | None, group: str | None) -> dict[str, Any] | None:
    if group is None:
        return user
    return {"group": {"id": group}} if user is None else {**user, "group": {"id": group}}


def _user(event: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    """``user.*`` as auditbeat's auditd module fills it (ids as text)."""
    g = event.get
    return pruned(
        {
            "id": ids.uid,
            "name": text(g("uid_name")),
            "group": named(ids.gid, g("gid_name")),
            "effective": _with_group(named(ids.euid, g("euid_name")), ids.egid),
            "audit": named(ids.auid, g("auid_name")),
            "saved": _with_group(named(ids.suid), ids.sgid),
            "filesystem": _with_group(named(ids.fsuid), ids.fsgid),
        }
    )


def copy_texts(event: dict[str, Any], out: dict[str, Any], keys: tuple[str, ...]) -> None:
    """``out[key] = event[key]`` for each key whose value is a string."""
    for key in keys:
        value = event.get(key)
        if type(value) is str:
            out[key] = value


#: Event fields copied as they are under ``exectrail.*`` (ECS) and ``unmapped`` (OCSF) when set.
CONTEXT_TEXTS: Final = (
    "script", "path", "cgroup", "cgroup_source", "systemd_unit", "names_source", "exe_hash_missing",
    "env_missing",
)  # fmt: skip


def _exectrail(event: dict[str, Any], parent: Any, exe_hash: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    copy_texts(event, out, CONTEXT_TEXTS)
    hash_rest = None
    if exe_hash is not None:
        hash_rest = {"mtime": date(exe_hash.get("mtime")), "ctime": date(exe_hash.get("ctime")),
                     "hashed_at": date(exe_hash.get("hashed_at"))}  # fmt: skip
    put_extras(event, out, parent, exe_hash, hash_rest)
    return out


def put_extras(
    event: dict[str, Any], out: dict[str, Any], parent: Any, exe_hash: Any, hash_times: dict[str, Any] | None
) -> None:
    """What neither ECS nor OCSF has a field for, under ``exectrail.*`` / ``unmapped``: ``incomplete``,
    ``fileless``, where the parent came from, the ``exe_hash`` details (``dev``, ``inode`` and the
    ``hash_times`` each format keeps there) and the ``NAME_hex`` companions as ``hex``."""
    g = event.get
    incomplete, fileless = g("incomplete"), strings(g("fileless"))
    if type(incomplete) is bool:
        out["incomplete"] = incomplete
    if fileless is not None:
        out["fileless"] = fileless
    if parent is not None and type(parent.get("source")) is str:
        out["parent_source"] = parent["source"]
    if exe_hash is not None:
        details = {
            "dev": text(exe_hash.get("dev")),
            "inode": whole(exe_hash.get("inode")),
            **(hash_times or {}),
        }
        put(out, "exe_hash", pruned(details))
    hexes = hex_companions(event)
    if hexes:
        out["hex"] = hexes


def hex_companions(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event's ``NAME_hex`` companions by NAME (the raw bytes of text that is not UTF-8)."""
    out = None
    for name, key in _HEX_KEYS:
        value = event.get(key)
        if value is not None:
            value = strings(value) if name == "argv" else text(value)
            if value:
                if out is None:
                    out = {}
                out[name] = value
    return out


def event_to_ecs(event: dict[str, Any], host: HostInfo) -> dict[str, Any]:
    """The ECS document of one exec event (its ``--format jsonl`` object)."""
    g = event.get
    success = g("success")
    parent = g("parent")
    parent = parent if type(parent) is dict else None
    exe_hash = g("exe_hash")
    exe_hash = exe_hash if type(exe_hash) is dict else None
    serial, exit_code, argc, ses = whole(g("serial")), whole(g("exit")), whole(g("argc")), whole(g("ses"))
    ids = _Ids(g)
    host_name, host_id = event_host(g("node"), host)
    out: dict[str, Any] = {}
    put(out, "@timestamp", date(g("time")))
    out["ecs"] = {"version": ECS_VERSION}
    out["event"] = pruned(
        {
            "kind": "event",
            "category": ["process"],
            "type": ["start"],
            "action": "executed",
            "outcome": "success" if success is True else "failure" if success is False else "unknown",
            "id": text(g("exec_id")),
            "sequence": serial,
            "module": MODULE,
            "dataset": "exectrail.exec",
        }
    )
    put(out, "process", _process(event, ids, parent, exe_hash))
    put(out, "user", _user(event, ids))
    out["host"] = pruned({"name": host_name, "id": host_id, "os": {"type": host.os_type}})
    container_id = text(g("container_id"))
    if container_id:
        out["container"] = pruned({"id": container_id, "runtime": text(g("container_runtime"))})
    path = text(g("path"))
    if path:
        out["file"] = pruned({"path": path, "name": basename(path)})
    key = text(g("key"))
    if key:
        out["tags"] = key.split(",")
    auditd = pruned(
        {
            "sequence": serial,
            "session": str(ses) if ses is not None else None,
            "result": "success" if success is True else "fail" if success is False else None,
        }
    )
    put(
        auditd,
        "data",
        pruned(
            {
                "syscall": text(g("syscall")),
                "arch": text(g("arch")),
                "exit": str(exit_code) if exit_code is not None else None,
                "tty": text(g("tty")),
                "argc": str(argc) if argc is not None else None,
            }
        ),
    )
    put(out, "auditd", auditd)
    put(out, "exectrail", _exectrail(event, parent, exe_hash))
    return out


def alarm_to_ecs(alarm: dict[str, Any], host: HostInfo) -> dict[str, Any]:
    """The ECS document of one alarm (``event.kind: alert``; the alarm kind is ``rule.name``)."""
    g = alarm.get
    kind = text(g("kind"))
    certainty = text(g("certainty"))
    host_name, host_id = event_host(g("host"), host)
    out: dict[str, Any] = {}
    put(out, "@timestamp", date(g("time")))
    out["ecs"] = {"version": ECS_VERSION}
    out["event"] = compact(
        kind="alert",
        category=["intrusion_detection"],
        type=["info"],
        action=kind,
        id=text(g("id")),  # a forwarded alarm's id (what receivers de-duplicate on)
        severity=ALARM_SEVERITY.get(certainty) if certainty is not None else None,
        module=MODULE,
        dataset="exectrail.alarm",
    )
    put(out, "message", text(g("summary")))
    put(
        out,
        "rule",
        compact(
            name=kind,
            description=DESCRIPTIONS.get(kind) if kind is not None else None,
            ruleset=MODULE,
        ),
    )
    put(out, "host", compact(name=host_name, id=host_id, os={"type": host.os_type}))
    details = g("details")
    extra = compact(
        certainty=certainty,
        details=details if type(details) is dict and details else None,
        evidence=strings(g("evidence")),
    )
    hexes = compact(
        host=text(g("host_hex")),
        summary=text(g("summary_hex")),
        evidence=strings(g("evidence_hex")),
    )
    put(extra, "hex", hexes)
    put(out, "exectrail", extra)
    return out
