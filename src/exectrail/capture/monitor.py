"""Watching the kernel while ``watch`` captures: interference alarms, the lost counter, ``--repair``.

:class:`KernelMonitor` drives :class:`~exectrail.interference.live.LiveMonitor`:

* every closed record group goes to :meth:`KernelMonitor.group` (the event builder's ``on_group``):
  CONFIG_CHANGE records that disable audit, change the failure mode, delete rules or change the
  backlog or the audit pid, and (plugin mode) auditd's DAEMON_END/DAEMON_ABORT give an alarm at once;
* :meth:`KernelMonitor.tick` reads the kernel status and rules every ``interval`` seconds (a
  CONFIG_CHANGE can itself be lost): the ``lost`` counter rising, audit disabled, the procmon rules
  gone, the audit daemon stopping or dying (multicast mode);
* with ``repair``, missing procmon rules are reinstalled and audit is re-enabled as soon as a
  reading or an alarm shows them gone - only what was in place when the capture started (not rules
  that ``--no-rules`` left out, nor audit that was off beside auditd). Every repair is told
  (``notify``) and named in the alarm that reported the removal. Rules re-added through the
  :class:`~exectrail.kernel.state.KernelGuard` are deleted on exit like the ones installed at start;
  rules that were there before watch started are put back as they were found and left in place.
  Repair never sets ``enabled=2`` or a failure mode.

Changes made by this process (set-up, repair, the clean-up on exit announced with
:meth:`stopping`) never alarm. In daemon mode the kernel does not audit the registered daemon's own
system calls, so the CONFIG_CHANGE records of our own changes come without the SYSCALL record that
names the actor: :meth:`stopping` says how many rule deletions of ours are coming, and that many
ownerless ``remove_rule`` records of our key are taken as ours.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from exectrail.errors import KernelAuditError
from exectrail.interference.live import BURST_SECONDS, LiveMonitor, Repair, StatusReading
from exectrail.interference.notices import parse_change
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.rules.procmon import DEFAULT_KEY, ProcmonSpec, plan_install, procmon_rules
from exectrail.kernel.rules.rule import decode_rules
from exectrail.kernel.state import KernelGuard
from exectrail.model import Alarm, Record

POLL_SECONDS = 1.0
REPAIR_NOTE_SECONDS = 10.0  # a repair is named in a removal alarm that comes at most this much later
#: record types LiveMonitor looks at (the first record of a group); everything else skips the call
WATCHED_TYPES = frozenset({"CONFIG_CHANGE", "SERVICE_STOP", "DAEMON_END", "DAEMON_ABORT"})

Notify = Callable[[str, str], None]


class KernelMonitor:
    """See the module docstring. ``client`` None (plugin mode without privileges): records only."""

    def __init__(
        self,
        client: AuditClient | None,
        mode: str,
        alarm: Callable[[Alarm], None],
        *,
        key: str = DEFAULT_KEY,
        notify: Notify | None = None,
        guard: KernelGuard | None = None,
        spec: ProcmonSpec | None = None,
        repair: bool = False,
        interval: float = POLL_SECONDS,
        alive: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.mode = mode
        self.alarm = alarm
        self.key = key
        self.notify = notify or (lambda kind, message: None)
        self.guard = guard
        self.spec = spec or ProcmonSpec(key=key)
        self.repair = repair and guard is not None
        self.interval = interval
        self.alive = alive
        self._skew = 0.0
        self.live = LiveMonitor(key=key, mode=mode, own_pids=frozenset({os.getpid()}), clock=self._clock)
        self.lost_start = self.lost_current = 0
        self.repairs = 0
        self.alarms = 0
        self._repaired: list[tuple[float, str]] = []  # repairs not named in an alarm yet
        self._next = 0.0
        self._error: str | None = None
        self._own_removals = 0  # ownerless remove_rule records still expected from our clean stop
        self._baseline: StatusReading | None = None  # what --repair may put back

    def _clock(self) -> float:
        return time.monotonic() + self._skew

    @property
    def lost(self) -> int:
        """Events the kernel lost since the capture started."""
        return self.lost_current - self.lost_start

    # -- readings ----------------------------------------------------------------------------------
    def _read(self) -> StatusReading | None:
        if self.client is None:
            return None
        try:
            status = self.client.get_status()
            rules = decode_rules(self.client.list_rules())
        except KernelAuditError as exc:
            if str(exc) != self._error:
                self._error = str(exc)
                self.notify("status-error", f"cannot read the audit status: {exc}")
            return None
        self._error = None
        return StatusReading.from_kernel(status, rules, self.key)

    def start(self) -> None:
        """The first reading: the state every later one is compared with."""
        reading = self._read()
        if reading is not None:
            self.lost_start = self.lost_current = reading.lost
            self._baseline = reading
            self.live.status(reading)
        self._next = time.monotonic() + self.interval

    def group(self, records: Sequence[Record]) -> None:
        """``on_group`` hook of the event builder: every closed group of records."""
        if records and records[0].type in WATCHED_TYPES:
            if self._own_removals and self._ours(records):
                self._own_removals -= 1
                return
            self._emit(self.live.group(records))

    def _ours(self, records: Sequence[Record]) -> bool:
        change = parse_change(records)
        return (
            change is not None
            and change.op == "remove_rule"
            and change.actor is None
            and change.key == self.key
        )

    def tick(self, force: bool = False) -> None:
        """Poll the kernel when due (or ``force``); otherwise let pending alarms come due."""
        now = time.monotonic()
        if self.client is None or (now < self._next and not force):
            self._emit(self.live.tick())
            return
        self._next = now + self.interval
        if self.alive is not None:
            self.alive()
        reading = self._read()
        if reading is None:
            self._emit(self.live.tick())
            return
        self.lost_current = max(self.lost_current, reading.lost)
        alarms = self.live.status(reading)
        if self.repair:
            self._repair(self.live.repair_needed(reading))
        self._emit(alarms)

    def expect(self, *names: str) -> None:
        """Changes this process is about to make (``procmon`` for its rules): no alarm for them."""
        self.live.expect(*names)

    def stopping(self, removals: int = 0) -> None:
        """Before the clean stop deletes our ``removals`` rules: no alarm for that, no repair any more."""
        self.repair = False
        self.expect("procmon")  # LiveMonitor's name for the exec rules, whatever their key
        if self.mode == "daemon":
            self._own_removals = removals

    def finish(self) -> None:
        """Last reading, then every alarm still waiting for its grace period or burst is due now."""
        self.tick(force=True)
        self._skew = self.live.grace + BURST_SECONDS + 1.0
        self._emit(self.live.tick())

    # -- alarms and repair -------------------------------------------------------------------------
    def _emit(self, alarms: list[Alarm]) -> None:
        for alarm in alarms:
            if self.repair and alarm.details.get("repairable"):
                reading = self._read()
                if reading is not None:
                    self._repair(self.live.repair_needed(reading))
                alarm = self._named_repairs(alarm)
            self.alarms += 1
            self.alarm(alarm)

    def _named_repairs(self, alarm: Alarm) -> Alarm:
        recent = time.monotonic() - REPAIR_NOTE_SECONDS
        done = [text for when, text in self._repaired if when >= recent]
        self._repaired = []
        if not done:
            return alarm
        details = {**alarm.details, "repaired": done}
        summary = f"{alarm.summary}; exectrail --repair {', '.join(done)}"
        return Alarm(alarm.kind, alarm.time, summary, alarm.certainty, alarm.host, details, alarm.evidence)

    def _repair(self, plan: Repair) -> None:
        guard, client, base = self.guard, self.client, self._baseline
        if guard is None or client is None or base is None:
            return
        plan = Repair(plan.enable and base.enabled != 0, plan.rules and base.procmon == "complete")
        if not (plan.enable or plan.rules):
            return
        done: list[str] = []
        try:
            if plan.rules:
                added = self._reinstall(guard, client)
                if added:
                    done.append(f"reinstalled {added} {self.key} rule{'s' if added != 1 else ''}")
            if plan.enable:
                if "enabled" in guard.status_set:  # watch enabled it: undone on exit as before
                    guard.set_status(enabled=1)
                else:  # it was enabled when watch started: putting it back is restoring
                    client.set_status(enabled=1)
                done.append("re-enabled audit")
        except KernelAuditError as exc:
            if str(exc) != self._error:
                self._error = str(exc)
                self.notify("repair-failed", f"--repair failed: {exc}")
        if done:
            self.repairs += 1
            now = time.monotonic()
            self._repaired.extend((now, text) for text in done)
            self.notify("repair", "REPAIRED: " + "; ".join(done))

    def _reinstall(self, guard: KernelGuard, client: AuditClient) -> int:
        current = decode_rules(client.list_rules())
        plan = plan_install(current, procmon_rules(self.spec), self.key)
        before = decode_rules(guard.before.rules)
        added = 0
        for rule in plan.add:
            blob = rule.to_bytes()
            if blob in guard.added or rule in before:  # journaled already, or the host's own
                added += client.add_rule(blob)
            else:
                added += guard.add_rule(blob)
        return added


__all__ = ["POLL_SECONDS", "KernelMonitor"]
