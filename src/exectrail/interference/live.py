"""Live: interference seen while capturing, from records and from polling the kernel status.

:class:`LiveMonitor` is the hook for ``exectrail watch``::

    monitor = LiveMonitor(key="procmon", mode="multicast")      # own pid's changes are ignored
    builder = EventBuilder(diagnostics, on_group=lambda g: emit(monitor.group(g)))
    every few seconds:
        emit(monitor.status(StatusReading.from_kernel(client.get_status(), rules, key)))
    when idle:
        emit(monitor.tick())

Records (CONFIG_CHANGE, SERVICE_STOP, DAEMON_END/ABORT in plugin mode) give an alarm at once, with
who did it. Status readings catch what the records miss (a CONFIG_CHANGE can itself be lost, and
auditd's own DAEMON_* records never pass through the kernel): audit disabled, failure mode, the
procmon rules losing coverage, the audit pid changing or dying, the ``lost`` counter rising,
backlog or rate limit lowered. A change seen by polling waits ``grace`` seconds for the record that
explains it, so one change gives one alarm (the record's, which names the actor).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exectrail.interference import kinds
from exectrail.interference.notices import (
    Change,
    daemon_actor,
    parse_change,
    record_text,
    rules_removed_alarm,
    service_stop_alarm,
    setting_alarm,
)
from exectrail.kernel.netlink.wire import AuditStatus
from exectrail.kernel.procfs import pid_alive
from exectrail.kernel.rules.procmon import coverage
from exectrail.kernel.rules.rule import Rule
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm, Record

FIELD_OF_SETTING = {
    "audit_enabled": "enabled",
    "audit_failure": "failure",
    "audit_backlog_limit": "backlog_limit",
    "audit_backlog_wait_time": "backlog_wait_time",
    "audit_rate_limit": "rate_limit",
    "audit_pid": "pid",
}
BURST_SECONDS = 1.0


@dataclass(frozen=True)
class StatusReading:
    """One poll of the kernel: status fields, rule count and the procmon rules' coverage state."""

    enabled: int
    failure: int
    pid: int
    lost: int
    backlog_limit: int
    backlog_wait_time: int
    rate_limit: int
    rules: int
    procmon: str  # complete / partial / absent
    missing: tuple[str, ...] = ()
    pid_alive: bool = True
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_kernel(cls, status: AuditStatus, rules: Sequence[Rule], key: str = "procmon") -> StatusReading:
        cover = coverage(list(rules), key)
        alive = status.pid == 0 or pid_alive(status.pid)
        return cls(
            status.enabled,
            status.failure,
            status.pid,
            status.lost,
            status.backlog_limit,
            status.backlog_wait_time,
            status.rate_limit,
            len(rules),
            cover.state,
            tuple(cover.missing),
            alive,
        )

    def describe(self) -> str:
        return (
            f"enabled={self.enabled} failure={self.failure} pid={self.pid} lost={self.lost} "
            f"backlog_limit={self.backlog_limit} backlog_wait_time={self.backlog_wait_time} "
            f"rate_limit={self.rate_limit} rules={self.rules} procmon={self.procmon}"
        )


@dataclass(frozen=True)
class Repair:
    """What ``watch --repair`` should put back after a reading."""

    enable: bool
    rules: bool


class LiveMonitor:
    """Turns status readings and closed record groups into alarms; see the module docstring.

    ``mode`` is the watch mode (``daemon``, ``multicast``, ``plugin``); ``own_pids`` are processes
    whose changes are ours (``--repair``, our own clean-up) and never alarm.
    """

    def __init__(
        self,
        key: str = "procmon",
        mode: str = "daemon",
        host: str | None = None,
        own_pids: frozenset[int] | None = None,
        grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.mode = mode
        self.host = host
        self.own_pids = own_pids if own_pids is not None else frozenset({os.getpid()})
        self.grace = grace
        self.clock = clock
        self.last: StatusReading | None = None
        self._announced: dict[str, float] = {}  # status field -> when a record explained a change
        self._pending: list[tuple[float, str, Alarm]] = []  # (due, field, alarm)
        self._polled: dict[str, tuple[float, Alarm]] = {}  # field -> the last polled alarm raised for it
        self._burst: list[Change] = []
        self._burst_at = 0.0

    # -- records -------------------------------------------------------------------------------
    def group(self, records: Sequence[Record]) -> list[Alarm]:
        """Alarms for one closed event (usually none)."""
        if not records:
            return []
        first = records[0]
        out: list[Alarm] = []
        if first.type == "CONFIG_CHANGE":
            change = parse_change(records)
            if change is not None:
                out += self._change(change)
        elif first.type == "SERVICE_STOP":
            alarm = service_stop_alarm(records)
            if alarm is not None:
                out.append(alarm)
        elif first.type in ("DAEMON_END", "DAEMON_ABORT"):
            self._announce("pid")
            how = "aborted" if first.type == "DAEMON_ABORT" else "stopped"
            summary = (
                f"auditd {how} ({first.type}, by {daemon_actor(first).describe()}): it no longer records"
            )
            out.append(
                Alarm(
                    kinds.COLLECTOR_STOPPED,
                    first.time,
                    summary,
                    CERTAIN,
                    first.node,
                    {"record": first.type},
                    (record_text(first),),
                )
            )
        if self._burst and self.clock() - self._burst_at >= BURST_SECONDS:
            out = self._flush_burst() + out
        return [self._hosted(a) for a in out]

    def _change(self, change: Change) -> list[Alarm]:
        if change.actor is not None and change.actor.pid in self.own_pids:
            return []
        if change.op == "remove_rule" and change.success:
            if change.key == self.key:
                self._announce("procmon")
            self._burst.append(change)
            self._burst_at = self.clock()
            return []
        out = self._flush_burst()
        alarm = _daemon_unregistered(change) or setting_alarm(change)
        if alarm is not None and change.setting is not None:
            name = FIELD_OF_SETTING[change.setting]
            name = _pid_name(change.new) if name == "pid" else name
            self._announce(name)
            if alarm.kind == kinds.AUDIT_DISABLED:
                alarm = _repairable(alarm)
            out += self._unless_polled(name, alarm)
        return out

    def _unless_polled(self, name: str, alarm: Alarm) -> list[Alarm]:
        """``[alarm]``, unless polling already raised the alarm for this change: its record came
        later than the grace period (a loaded host), and one change still gives one alarm."""
        polled = self._polled.get(name)
        if polled is None or self.clock() - polled[0] > self.grace + 30:
            return [alarm]
        if polled[1].kind != alarm.kind or polled[1].details.get("pid") != alarm.details.get("pid"):
            return [alarm]
        del self._polled[name]
        return []

    def _flush_burst(self) -> list[Alarm]:
        if not self._burst:
            return []
        changes, self._burst = self._burst, []
        alarm = rules_removed_alarm(changes, self.key)
        return [_repairable(alarm) if alarm.details.get("procmon_rules") else alarm]

    def expect(self, *names: str) -> None:
        """Changes we are about to make ourselves (``procmon`` for our rules, or status field names
        such as ``enabled``, ``backlog_limit``, ``pid``): the next readings showing them give no alarm."""
        for name in names:
            self._announce(name)

    def _announce(self, name: str) -> None:
        self._announced[name] = self.clock()
        self._pending = [p for p in self._pending if p[1] != name]

    # -- status --------------------------------------------------------------------------------
    def status(self, reading: StatusReading) -> list[Alarm]:
        """Compare a reading with the previous one; the alarms now due (lost events at once)."""
        previous, self.last = self.last, reading
        out: list[Alarm] = []
        if previous is not None:
            for name, alarm in self._compare(previous, reading):
                if name == "lost":
                    out.append(alarm)
                elif self.clock() - self._announced.get(name, -1e9) > self.grace + 30:
                    self._pending.append((self.clock() + self.grace, name, alarm))
        return [self._hosted(a) for a in out] + self.tick()

    def tick(self) -> list[Alarm]:
        """Status alarms whose grace period passed without a record explaining them; a finished
        burst of rule deletions."""
        now = self.clock()
        due = []
        for when, name, alarm in self._pending:
            if when <= now:
                due.append(alarm)
                self._polled[name] = (now, alarm)
        self._pending = [p for p in self._pending if p[0] > now]
        if self._burst and now - self._burst_at >= BURST_SECONDS:
            due += self._flush_burst()
        return [self._hosted(a) for a in due]

    def repair_needed(self, reading: StatusReading | None = None) -> Repair:
        """What is missing now: audit enabled, the procmon rules complete."""
        current = reading or self.last
        if current is None:
            return Repair(False, False)
        return Repair(current.enabled == 0, current.procmon != "complete")

    def _compare(self, old: StatusReading, new: StatusReading) -> list[tuple[str, Alarm]]:
        found: list[tuple[str, Alarm]] = []

        def alarm(name: str, kind: str, summary: str, certainty: str = CERTAIN, **details: object) -> None:
            info = {"before": old.describe(), "after": new.describe(), **details}
            found.append(
                (
                    name,
                    Alarm(
                        kind, new.time, summary, certainty, self.host, info, (f"status: {new.describe()}",)
                    ),
                )
            )

        if new.lost > old.lost:
            n = new.lost - old.lost
            alarm(
                "lost",
                kinds.EVENTS_LOST,
                f"the kernel lost {n} event{'s' if n != 1 else ''} (lost counter {old.lost} -> {new.lost})",
                lost=n,
            )
        if old.enabled != 0 and new.enabled == 0:
            alarm(
                "enabled",
                kinds.AUDIT_DISABLED,
                "audit is disabled (enabled=0), seen by polling the kernel",
                repairable=True,
            )
        if new.failure != old.failure and new.failure != 1:
            alarm(
                "failure",
                kinds.FAILURE_MODE_CHANGED,
                f"failure mode changed from {old.failure} to {new.failure}",
            )
        if old.procmon == "complete" and new.procmon != "complete":
            missing = ", ".join(new.missing) or "all"
            alarm(
                "procmon",
                kinds.RULES_REMOVED,
                f"the {self.key} exec rules are gone ({new.procmon}; missing: "
                f"{missing}; {old.rules} -> {new.rules} rules), seen by polling the kernel",
                repairable=True,
            )
        self._compare_pid(old, new, alarm)
        if new.backlog_limit < old.backlog_limit:
            alarm(
                "backlog_limit",
                kinds.BACKLOG_LOWERED,
                f"backlog_limit lowered from {old.backlog_limit} to {new.backlog_limit}",
                SUSPICIOUS,
            )
        if new.backlog_wait_time < old.backlog_wait_time:
            alarm(
                "backlog_wait_time",
                kinds.BACKLOG_LOWERED,
                f"backlog_wait_time lowered from {old.backlog_wait_time} to {new.backlog_wait_time}",
                SUSPICIOUS,
            )
        if new.rate_limit and (not old.rate_limit or new.rate_limit < old.rate_limit):
            alarm(
                "rate_limit",
                kinds.RATE_LIMIT_SET,
                f"rate limit set to {new.rate_limit} records/s",
                SUSPICIOUS,
            )
        return found

    def _compare_pid(self, old: StatusReading, new: StatusReading, alarm: Callable[..., None]) -> None:
        was_ours = old.pid in self.own_pids
        if new.pid != old.pid:
            if old.pid and not new.pid and not old.pid_alive:
                pass  # its death was reported; the kernel now dropped the dead registration
            elif old.pid and not new.pid:
                if was_ours:
                    alarm(
                        "pid",
                        kinds.AUDIT_PID_CHANGED,
                        f"exectrail (pid {old.pid}) was unregistered as the audit daemon by someone else",
                    )
                else:
                    alarm(
                        "pid",
                        kinds.COLLECTOR_STOPPED,
                        f"the audit daemon (pid {old.pid}) stopped: no daemon is registered any more",
                        pid=old.pid,
                    )
            elif new.pid and new.pid not in self.own_pids:
                if old.pid and old.pid_alive and not was_ours:
                    # the kernel lets no daemon replace a live registered one: the old one
                    # unregistered (its record says so) or died between two polls
                    alarm(
                        "pid",
                        kinds.COLLECTOR_STOPPED,
                        f"the audit daemon (pid {old.pid}) is gone (unregistered or died): "
                        f"pid {new.pid} registered in its place",
                        pid=old.pid,
                    )
                alarm(
                    _pid_name(new.pid),
                    kinds.AUDIT_PID_CHANGED,
                    f"the audit daemon pid changed from {old.pid or 'none'} to {new.pid}",
                    old_pid=old.pid,
                    new_pid=new.pid,
                )
        elif new.pid and old.pid_alive and not new.pid_alive and not was_ours:
            alarm(
                "pid",
                kinds.COLLECTOR_STOPPED,
                f"the audit daemon (pid {new.pid}) died without unregistering (killed?)",
                pid=new.pid,
            )

    def _hosted(self, alarm: Alarm) -> Alarm:
        if alarm.host is None and self.host is not None:
            return Alarm(
                alarm.kind,
                alarm.time,
                alarm.summary,
                alarm.certainty,
                self.host,
                alarm.details,
                alarm.evidence,
            )
        return alarm


def _pid_name(new_pid: int | None) -> str:
    """The name a change of the audit pid to ``new_pid`` is announced and compared under: the
    daemon going (``pid``) and another one registering (``pid:N``) are two facts, so the record of
    an auditd stopping does not hide a different daemon taking over after it."""
    return f"pid:{new_pid}" if new_pid else "pid"


def _daemon_unregistered(change: Change) -> Alarm | None:
    """``op=set audit_pid=0 old=N res=1``: only the registered daemon may unregister itself
    (kernel/audit.c), so the audit daemon N is stopping. Its DAEMON_END goes to its own log only:
    beside a running auditd (multicast, plugin) this record is all the kernel stream shows of it.
    (Our own unregistration never gets here: changes by ``own_pids`` are ignored.)"""
    if change.setting != "audit_pid" or not change.success or change.new != 0 or not change.old:
        return None
    summary = f"the audit daemon (pid {change.old}) unregistered itself: it is stopping and no longer records"
    details: dict[str, object] = {
        "op": change.op,
        "serial": change.serial,
        "pid": change.old,
        "setting": "audit_pid",
    }
    return Alarm(
        kinds.COLLECTOR_STOPPED,
        change.record.time,
        summary,
        CERTAIN,
        change.record.node,
        details,
        change.evidence,
    )


def _repairable(alarm: Alarm) -> Alarm:
    details = {**alarm.details, "repairable": True}
    return Alarm(alarm.kind, alarm.time, alarm.summary, alarm.certainty, alarm.host, details, alarm.evidence)
