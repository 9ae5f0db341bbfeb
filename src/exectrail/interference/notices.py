"""Reading the records that tell of interference: CONFIG_CHANGE, DAEMON_*, SERVICE_STOP.

Formats measured on kernel 6.18 with auditd 3.0.9 (ENRICHED part cut off by the parser)::

    CONFIG_CHANGE  op=set audit_enabled=0 old=1 auid=4294967295 ses=4294967295 res=1
    CONFIG_CHANGE  auid=4294967295 ses=4294967295 op=remove_rule key="procmon" list=4 res=1
    DAEMON_END     op=terminate auid=0 uid=0 ses=4294967295 pid=30073 res=success
    DAEMON_ABORT   op=error-halt auid=0 pid=812 res=failed
    DAEMON_START   op=start ver=3.0.9 format=enriched kernel=6.18.44 auid=4294967295 pid=3103 …
    SERVICE_STOP   pid=1 uid=0 auid=4294967295 ses=4294967295 msg='unit=auditd comm="systemd" … res=success'

``auditctl -e 0`` is logged; re-enabling is not (nothing is logged while audit is off), and no
serial number is used up while it is off. ``auditctl -D`` logs one ``remove_rule`` event per rule.
The SYSCALL record of the same event names who made the change (pid, exe, auid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exectrail.interference import kinds
from exectrail.model import CERTAIN, SUSPICIOUS, UNSET_ID, Alarm, Record
from exectrail.parse.fields import loose_text, split_fields

SETTINGS = (
    "audit_enabled",
    "audit_failure",
    "audit_backlog_limit",
    "audit_backlog_wait_time",
    "audit_rate_limit",
    "audit_pid",
)
SERVICE_UNITS = frozenset({"auditd", "auditd.service", "exectrail", "exectrail.service"})
DAEMON_STOPS = frozenset({"DAEMON_END", "DAEMON_ABORT"})


def record_text(record: Record) -> str:
    """The record as auditd writes it (raw part), for evidence."""
    node = f"node={record.node} " if record.node else ""
    key = record.key.decode("ascii", "replace")
    return f"{node}type={record.type} msg=audit({key}): {record.body.decode('utf-8', 'surrogateescape')}"


def time_ms(record: Record) -> int:
    """The record's timestamp in milliseconds since the epoch."""
    seconds, _, rest = record.key.partition(b".")
    return int(seconds) * 1000 + int(rest[:3])


def _int(value: bytes | None) -> int | None:
    """A non-negative integer field; None when absent or unknown (auditd writes ``-1``)."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 0 else None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: from the SYSCALL record of the same event (or the DAEMON record)."""

    pid: int | None
    uid: int | None
    auid: int | None
    comm: str | None = None
    exe: str | None = None

    def describe(self) -> str:
        """``/usr/sbin/auditctl (pid 812, uid 0, login uid 1000)``."""
        ids = []
        if self.pid is not None:
            ids.append(f"pid {self.pid}")
        if self.uid is not None:
            ids.append(f"uid {self.uid}")
        if self.auid is not None and self.auid != UNSET_ID:
            ids.append(f"login uid {self.auid}")
        name = self.exe or self.comm or ""
        inner = ", ".join(ids)
        if name and inner:
            return f"{name} ({inner})"
        return name or inner or "unknown"

    def as_details(self) -> dict[str, object]:
        return {"pid": self.pid, "uid": self.uid, "auid": self.auid, "comm": self.comm, "exe": self.exe}


def actor_of(group: Sequence[Record]) -> Actor | None:
    """The actor from the SYSCALL record of ``group``, if it has one."""
    for record in group:
        if record.type == "SYSCALL":
            f = split_fields(record.body)
            return Actor(
                _int(f.get(b"pid")),
                _int(f.get(b"uid")),
                _int(f.get(b"auid")),
                loose_text(f.get(b"comm")),
                loose_text(f.get(b"exe")),
            )
    return None


@dataclass(frozen=True, slots=True)
class Change:
    """One CONFIG_CHANGE: ``op`` ``set`` (with ``setting``, ``new``, ``old``) or a rule operation."""

    op: str
    setting: str | None
    new: int | None
    old: int | None
    key: str | None
    success: bool
    record: Record
    actor: Actor | None
    evidence: tuple[str, ...]

    @property
    def time_ms(self) -> int:
        return time_ms(self.record)

    @property
    def serial(self) -> int:
        return self.record.serial


def parse_change(group: Sequence[Record]) -> Change | None:
    """The CONFIG_CHANGE of ``group`` (a closed event), or None when it has none."""
    record = next((r for r in group if r.type == "CONFIG_CHANGE"), None)
    if record is None:
        return None
    f = split_fields(record.body)
    op = (loose_text(f.get(b"op")) or "").strip("'\"")
    setting = next((name for name in SETTINGS if name.encode() in f), None)
    new = _int(f.get(setting.encode())) if setting else None
    key_raw = f.get(b"key")
    key = None if key_raw in (None, b"(null)") else loose_text(key_raw)
    res = f.get(b"res", b"1")
    evidence = tuple(record_text(r) for r in group if r.type in ("CONFIG_CHANGE", "SYSCALL"))
    return Change(
        op,
        setting,
        new,
        _int(f.get(b"old")),
        key,
        res in (b"1", b"success"),
        record,
        actor_of(group),
        evidence,
    )


def _alarm(
    kind: str, change: Change, summary: str, values: dict[str, object], certainty: str = CERTAIN
) -> Alarm:
    who = change.actor
    info: dict[str, object] = {"op": change.op, "serial": change.serial, **values}
    if who is not None:
        info["actor"] = who.as_details()
        summary += f" (by {who.describe()})"
    return Alarm(kind, change.record.time, summary, certainty, change.record.node, info, change.evidence)


def setting_alarm(change: Change) -> Alarm | None:
    """The alarm for an ``op=set`` change, or None when the change is harmless (e.g. raising the
    backlog, re-enabling audit, a daemon registering where none was)."""
    name, new, old = change.setting, change.new, change.old
    if not change.success or name is None or new is None:
        return None
    values: dict[str, object] = {"setting": name, "new": new, "old": old}
    if name == "audit_enabled" and new == 0:
        return _alarm(kinds.AUDIT_DISABLED, change, "audit was disabled (enabled=0)", values)
    if name == "audit_failure" and new != 1 and new != old:
        what = "0: lost events are dropped silently" if new == 0 else f"{new}: the kernel panics on loss"
        return _alarm(kinds.FAILURE_MODE_CHANGED, change, f"failure mode set to {what}", values)
    if name in ("audit_backlog_limit", "audit_backlog_wait_time") and old is not None and new < old:
        label = name.removeprefix("audit_")
        summary = f"{label} lowered from {old} to {new}: the kernel drops events sooner"
        return _alarm(kinds.BACKLOG_LOWERED, change, summary, values, SUSPICIOUS)
    if name == "audit_rate_limit" and new > 0 and (not old or new < old):
        summary = f"rate limit set to {new} records/s: events beyond it are dropped"
        return _alarm(kinds.RATE_LIMIT_SET, change, summary, values, SUSPICIOUS)
    if name == "audit_pid" and old and new != old:
        what = "unregistered" if new == 0 else f"replaced by pid {new}"
        return _alarm(kinds.AUDIT_PID_CHANGED, change, f"audit daemon pid {old} {what}", values)
    return None


def rules_removed_alarm(changes: Sequence[Change], procmon_key: str) -> Alarm:
    """One alarm for a burst of ``remove_rule`` changes (``auditctl -D`` logs one per rule)."""
    first = changes[0]
    keys = sorted({c.key or "(none)" for c in changes})
    ours = sum(c.key == procmon_key for c in changes)
    count = len(changes)
    plural = "s" if count != 1 else ""
    if ours == count:
        what = f"{count} {procmon_key} exec rule{plural} deleted"
    else:
        what = f"{count} audit rule{plural} deleted (key{'s' if len(keys) > 1 else ''} {', '.join(keys)})"
        if ours:
            what += f", {ours} of them {procmon_key} exec rule{'s' if ours != 1 else ''}"
    actors = {c.actor for c in changes if c.actor is not None}
    if first.actor is not None:
        others = len(actors - {first.actor})
        what += f" (by {first.actor.describe()}" + (
            f" and {others} other process{'es' if others > 1 else ''})" if others else ")"
        )
    evidence = tuple(line for c in changes[:8] for line in c.evidence)
    details: dict[str, object] = {"count": count, "keys": keys, "procmon_rules": ours, "serial": first.serial}
    if first.actor is not None:
        details["actor"] = first.actor.as_details()
    return Alarm(kinds.RULES_REMOVED, first.record.time, what, CERTAIN, first.record.node, details, evidence)


def daemon_actor(record: Record) -> Actor:
    """Who is named in a DAEMON_* record (for DAEMON_END: the sender of the signal)."""
    f = split_fields(record.body)
    return Actor(_int(f.get(b"pid")), _int(f.get(b"uid")), _int(f.get(b"auid")))


def service_unit(record: Record) -> str | None:
    """The ``unit=`` inside a SERVICE_START/SERVICE_STOP record's ``msg='…'``."""
    msg = split_fields(record.body).get(b"msg")
    if msg is None:
        return None
    inner = msg.strip(b"'\"")
    return loose_text(split_fields(inner).get(b"unit"))


def service_stop_alarm(group: Sequence[Record]) -> Alarm | None:
    """SERVICE_STOP of auditd (or exectrail): the service manager stopped the collector."""
    record = next((r for r in group if r.type == "SERVICE_STOP"), None)
    if record is None:
        return None
    unit = service_unit(record)
    if unit not in SERVICE_UNITS:
        return None
    actor = daemon_actor(record)
    summary = f"service {unit} was stopped (by {actor.describe()})"
    details: dict[str, object] = {"unit": unit, "actor": actor.as_details(), "serial": record.serial}
    return Alarm(
        kinds.SERVICE_STOPPED, record.time, summary, CERTAIN, record.node, details, (record_text(record),)
    )
