"""``watch --repair`` against a fake kernel: what is put back, what is undone on exit, what alarms."""

from __future__ import annotations

import dataclasses
from typing import Any

from exectrail.capture.monitor import KernelMonitor
from exectrail.interference import kinds
from exectrail.kernel.netlink.wire import AuditStatus
from exectrail.kernel.rules.procmon import ProcmonSpec, procmon_rules
from exectrail.kernel.state import KernelGuard
from exectrail.model import Alarm

SPEC = ProcmonSpec(machine="x86_64")
BLOBS = [rule.to_bytes() for rule in procmon_rules(SPEC)]


class FakeKernel:
    """Status and rules in memory, with the refusals of the real client (enabled/failure 2)."""

    def __init__(self, enabled: int = 1) -> None:
        self.status = AuditStatus(enabled=enabled, failure=1, backlog_limit=8192, backlog_wait_time=15000)
        self.rules: list[bytes] = []
        self.sets: list[dict[str, int]] = []

    def get_status(self) -> AuditStatus:
        return self.status

    def list_rules(self) -> list[bytes]:
        return list(self.rules)

    def add_rule(self, blob: bytes) -> bool:
        if blob in self.rules:
            return False
        self.rules.append(blob)
        return True

    def delete_rule(self, blob: bytes) -> bool:
        if blob not in self.rules:
            return False
        self.rules.remove(blob)
        return True

    def set_status(self, **values: int) -> None:
        assert values.get("enabled", 0) in (0, 1) and values.get("failure", 0) in (0, 1)
        self.sets.append(values)
        self.status = dataclasses.replace(self.status, **values)


def monitored(kernel: FakeKernel, repair: bool = True) -> tuple[KernelMonitor, KernelGuard, list[Alarm]]:
    guard = KernelGuard.start(kernel)  # type: ignore[arg-type]
    for blob in BLOBS:
        guard.add_rule(blob)
    if kernel.status.enabled == 0:
        guard.set_status(enabled=1)
    alarms: list[Alarm] = []
    monitor = KernelMonitor(
        kernel,  # type: ignore[arg-type]
        "daemon",
        alarms.append,
        guard=guard,
        spec=SPEC,
        repair=repair,
        interval=0,
    )
    monitor.start()
    return monitor, guard, alarms


def test_rules_removed_are_reinstalled_once_alarmed_and_undone_on_exit() -> None:
    kernel = FakeKernel()
    monitor, guard, alarms = monitored(kernel)
    kernel.rules.clear()  # auditctl -D, its records lost
    monitor.tick()
    assert kernel.rules == BLOBS and monitor.repairs == 1  # back at the first reading
    monitor.tick()
    monitor.finish()
    [alarm] = alarms
    assert alarm.kind == kinds.RULES_REMOVED and alarm.details["repaired"] == ["reinstalled 2 procmon rules"]
    assert "exectrail --repair reinstalled 2 procmon rules" in alarm.summary
    guard.undo()
    assert kernel.rules == []  # what --repair re-added goes on exit like the rest


def test_audit_disabled_is_reenabled_and_the_start_value_restored() -> None:
    kernel = FakeKernel(enabled=0)  # watch enabled it at start
    monitor, guard, alarms = monitored(kernel)
    kernel.status = dataclasses.replace(kernel.status, enabled=0)  # auditctl -e 0
    monitor.tick()
    assert kernel.status.enabled == 1
    monitor.finish()
    assert [a.kind for a in alarms] == [kinds.AUDIT_DISABLED]
    guard.undo()
    assert kernel.status.enabled == 0 and all(s.get("enabled") != 2 for s in kernel.sets)


def test_reenabling_what_was_enabled_before_watch_is_kept_on_exit() -> None:
    kernel = FakeKernel(enabled=1)
    monitor, guard, _ = monitored(kernel)
    kernel.status = dataclasses.replace(kernel.status, enabled=0)
    monitor.tick()
    guard.undo()
    assert kernel.status.enabled == 1  # the state watch found


def test_host_rules_put_back_by_repair_stay_after_exit() -> None:
    kernel = FakeKernel()
    kernel.rules = list(BLOBS)  # installed before watch (rules.d): watch adds nothing
    monitor, guard, _ = monitored(kernel)
    kernel.rules.clear()
    monitor.tick()
    guard.undo()
    assert kernel.rules == BLOBS


def test_without_repair_nothing_is_touched() -> None:
    kernel = FakeKernel()
    monitor, _guard, alarms = monitored(kernel, repair=False)
    kernel.rules.clear()
    monitor.tick()
    monitor.finish()
    assert kernel.rules == [] and monitor.repairs == 0
    assert [a.kind for a in alarms] == [kinds.RULES_REMOVED] and "repaired" not in alarms[0].details


def test_our_clean_stop_neither_alarms_nor_repairs() -> None:
    kernel = FakeKernel()
    monitor, guard, alarms = monitored(kernel)
    monitor.stopping()
    guard.undo_rules()
    monitor.finish()
    assert alarms == [] and kernel.rules == [] and monitor.repairs == 0


def test_repair_restores_only_what_was_there_at_start() -> None:
    """--no-rules (rules absent at start) and audit off at start: nothing to put back."""
    kernel = FakeKernel(enabled=0)
    guard = KernelGuard.start(kernel)  # type: ignore[arg-type]
    alarms: list[Alarm] = []
    client: Any = kernel
    monitor = KernelMonitor(
        client, "multicast", alarms.append, guard=guard, spec=SPEC, repair=True, interval=0
    )
    monitor.start()
    monitor.tick()
    monitor.finish()
    assert (kernel.rules, kernel.status.enabled, monitor.repairs, alarms) == ([], 0, 0, [])
