"""The live hook (:class:`LiveMonitor`): record groups from a real log, status readings, and the
grace period that makes one change give one alarm."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from exectrail.assemble.grouper import Assembler, Group
from exectrail.interference import kinds
from exectrail.interference.live import LiveMonitor, StatusReading
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm, Diagnostics, Record
from exectrail.parse.logfile import read_records
from tests.support.paths import INTERFERENCE_DATA as DATA

BASE = StatusReading(1, 1, 4242, 0, 8192, 15000, 0, 2, "complete", pid_alive=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def groups(name: str) -> list[Group]:
    assembler = Assembler()
    out: list[Group] = []
    for record in read_records([DATA / name], Diagnostics()):
        out += assembler.feed(record)
    return out + assembler.flush()


def feed(monitor: LiveMonitor, found: list[Group]) -> list[Alarm]:
    alarms: list[Alarm] = []
    for group in found:
        alarms += monitor.group(group)
    return alarms


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_config_changes_from_real_records(clock: Clock) -> None:
    monitor = LiveMonitor(clock=clock, own_pids=frozenset())
    alarms = feed(monitor, groups("config_changes.log"))
    clock.now += 5
    alarms += monitor.tick()
    got = [a.kind for a in alarms]
    assert got == [
        kinds.AUDIT_DISABLED,
        kinds.FAILURE_MODE_CHANGED,
        kinds.BACKLOG_LOWERED,
        kinds.RATE_LIMIT_SET,
        kinds.RULES_REMOVED,  # auditctl -d of the b32 rule
        kinds.RULES_REMOVED,  # auditctl -D: one alarm for its 3 deletions
        kinds.SERVICE_STOPPED,
        kinds.COLLECTOR_STOPPED,  # DAEMON_END (the plugin stream carries auditd's own records)
    ]
    delete_all = alarms[5]
    assert delete_all.details["count"] == 3 and delete_all.details["procmon_rules"] == 2
    assert delete_all.details["repairable"] is True and alarms[0].details["repairable"] is True
    assert alarms[0].details["actor"]["exe"] == "/usr/sbin/auditctl"  # type: ignore[index]


def test_changes_made_by_ourselves_do_not_alarm(clock: Clock) -> None:
    found = groups("config_changes.log")
    actors = set()
    for alarm in feed(LiveMonitor(clock=clock, own_pids=frozenset()), found):
        if "actor" in alarm.details:
            actors.add(alarm.details["actor"]["pid"])  # type: ignore[index]
    quiet = LiveMonitor(clock=clock, own_pids=frozenset(actors))
    alarms = feed(quiet, found)
    clock.now += 5
    assert [a.kind for a in alarms + quiet.tick()] == [kinds.SERVICE_STOPPED, kinds.COLLECTOR_STOPPED]


def test_daemon_records_in_plugin_mode(clock: Clock) -> None:
    alarms = feed(LiveMonitor(mode="plugin", clock=clock), groups("restarts.log"))
    assert [a.kind for a in alarms] == [kinds.COLLECTOR_STOPPED, kinds.COLLECTOR_STOPPED]


def test_lost_counter_alarms_at_once(clock: Clock) -> None:
    monitor = LiveMonitor(clock=clock)
    assert monitor.status(BASE) == []
    [alarm] = monitor.status(dataclasses.replace(BASE, lost=17))
    assert alarm.kind == kinds.EVENTS_LOST and alarm.details["lost"] == 17 and alarm.certainty == CERTAIN


@pytest.mark.parametrize(
    ("change", "kind", "certainty"),
    [
        ({"enabled": 0}, kinds.AUDIT_DISABLED, CERTAIN),
        ({"failure": 0}, kinds.FAILURE_MODE_CHANGED, CERTAIN),
        ({"procmon": "absent", "rules": 0, "missing": ("b64 execve",)}, kinds.RULES_REMOVED, CERTAIN),
        ({"procmon": "partial", "rules": 1}, kinds.RULES_REMOVED, CERTAIN),
        ({"backlog_limit": 64}, kinds.BACKLOG_LOWERED, SUSPICIOUS),
        ({"backlog_wait_time": 0}, kinds.BACKLOG_LOWERED, SUSPICIOUS),
        ({"rate_limit": 10}, kinds.RATE_LIMIT_SET, SUSPICIOUS),
        ({"pid": 0}, kinds.COLLECTOR_STOPPED, CERTAIN),
        ({"pid_alive": False}, kinds.COLLECTOR_STOPPED, CERTAIN),
    ],
)
def test_status_change_without_record_alarms_after_grace(
    clock: Clock, change: dict[str, Any], kind: str, certainty: str
) -> None:
    monitor = LiveMonitor(clock=clock, own_pids=frozenset(), grace=2.0)
    monitor.status(BASE)
    assert monitor.status(dataclasses.replace(BASE, **change)) == []  # waits for the record
    clock.now += 1
    assert monitor.tick() == []
    clock.now += 1.5
    [alarm] = monitor.tick()
    assert (alarm.kind, alarm.certainty) == (kind, certainty)


def test_record_then_status_gives_one_alarm(clock: Clock) -> None:
    monitor = LiveMonitor(clock=clock, own_pids=frozenset())
    monitor.status(BASE)
    disable = next(g for g in groups("config_changes.log") if b"audit_enabled=0" in g[0].body)
    [alarm] = monitor.group(disable)
    monitor.status(dataclasses.replace(BASE, enabled=0))
    clock.now += 10
    assert monitor.tick() == [] and alarm.kind == kinds.AUDIT_DISABLED


def test_status_then_record_gives_one_alarm(clock: Clock) -> None:
    monitor = LiveMonitor(clock=clock, own_pids=frozenset())
    monitor.status(BASE)
    monitor.status(dataclasses.replace(BASE, enabled=0))
    disable = next(g for g in groups("config_changes.log") if b"audit_enabled=0" in g[0].body)
    [alarm] = monitor.group(disable)
    clock.now += 10
    assert monitor.tick() == [] and "actor" in alarm.details


def test_our_own_registration_and_repair_plan(clock: Clock) -> None:
    monitor = LiveMonitor(clock=clock, own_pids=frozenset({4242}), mode="daemon")
    monitor.status(BASE)
    monitor.status(dataclasses.replace(BASE, pid=0))  # someone unregistered us
    clock.now += 3
    [alarm] = monitor.tick()
    assert alarm.kind == kinds.AUDIT_PID_CHANGED
    plan = monitor.repair_needed(dataclasses.replace(BASE, enabled=0, procmon="partial"))
    assert plan.enable and plan.rules
    assert not monitor.repair_needed(BASE).enable


def test_expected_changes_of_our_own(clock: Clock) -> None:
    monitor = LiveMonitor(clock=clock)
    monitor.status(BASE)
    monitor.expect("procmon")  # watch deletes its rules on a clean stop
    monitor.status(dataclasses.replace(BASE, procmon="absent", rules=0))
    clock.now += 10
    assert monitor.tick() == []


def test_a_killed_daemon_gives_one_alarm_when_the_kernel_then_drops_it(clock: Clock) -> None:
    """SIGKILL: the registered pid dies (alarm), later the kernel resets the pid to 0 (no second)."""
    monitor = LiveMonitor(clock=clock, own_pids=frozenset(), mode="multicast")
    monitor.status(BASE)
    monitor.status(dataclasses.replace(BASE, pid_alive=False))
    clock.now += 3
    [alarm] = monitor.tick()
    assert alarm.kind == kinds.COLLECTOR_STOPPED and "4242" in alarm.summary
    monitor.status(dataclasses.replace(BASE, pid=0))
    clock.now += 3
    assert monitor.tick() == []


def test_the_daemon_unregistering_itself_is_a_stop(clock: Clock) -> None:
    """SIGTERM: auditd's ``audit_pid=0 old=N`` is all the kernel stream shows of its stop."""
    from exectrail.model import Record

    monitor = LiveMonitor(clock=clock, own_pids=frozenset({99}), mode="multicast")
    monitor.status(BASE)
    record = Record(
        "CONFIG_CHANGE",
        b"1795619705.079:640000",
        b"op=set audit_pid=0 old=4242 auid=4294967295 ses=4294967295 res=1",
    )
    [alarm] = monitor.group([record])
    assert alarm.kind == kinds.COLLECTOR_STOPPED and alarm.details["pid"] == 4242
    monitor.status(dataclasses.replace(BASE, pid=0))
    clock.now += 10
    assert monitor.tick() == []


def test_a_stop_record_later_than_the_grace_adds_no_second_alarm(clock: Clock) -> None:
    """On a loaded host auditd's ``audit_pid=0`` record can reach us after polling already raised
    the stop: one change, one alarm. A later stop of another daemon still alarms."""
    monitor = LiveMonitor(clock=clock, own_pids=frozenset({99}), mode="multicast")
    monitor.status(BASE)
    monitor.status(dataclasses.replace(BASE, pid=0))
    clock.now += 3
    [polled] = monitor.tick()
    assert polled.kind == kinds.COLLECTOR_STOPPED and polled.details["pid"] == 4242
    clock.now += 1
    assert monitor.group(_pid_record(0, 4242)) == []
    monitor.status(dataclasses.replace(BASE, pid=5151))  # another auditd registers ...
    clock.now += 3
    assert [a.kind for a in monitor.tick()] == [kinds.AUDIT_PID_CHANGED]
    [stop] = monitor.group(_pid_record(0, 5151))  # ... and stops: its record is its own alarm
    assert stop.kind == kinds.COLLECTOR_STOPPED and stop.details["pid"] == 5151


def _pid_record(new: int, old: int) -> list[Record]:
    return [
        Record(
            "CONFIG_CHANGE",
            b"1795619705.079:640000",
            f"op=set audit_pid={new} old={old} auid=4294967295 ses=4294967295 res=1".encode(),
        )
    ]


@pytest.mark.parametrize("between", [[], [0]], ids=["seen-directly", "seen-unregistered-first"])
def test_a_stopped_daemon_replaced_by_another_gives_both_alarms_once(
    clock: Clock, between: list[int]
) -> None:
    """auditd 4242 stops (SIGTERM: ``audit_pid=0 old=4242``), auditd 5151 registers: the stop and
    the new registration are two facts, one alarm each, whether a poll saw the pid at 0 or not."""
    monitor = LiveMonitor(clock=clock, own_pids=frozenset({99}), mode="multicast")
    monitor.status(BASE)
    [stopped] = monitor.group(_pid_record(0, 4242))
    assert stopped.kind == kinds.COLLECTOR_STOPPED
    assert monitor.group(_pid_record(5151, 0)) == []  # a daemon registering where none was
    alarms = [a for pid in [*between, 5151] for a in monitor.status(dataclasses.replace(BASE, pid=pid))]
    clock.now += 3
    alarms += monitor.tick()
    [changed] = alarms
    assert changed.kind == kinds.AUDIT_PID_CHANGED and changed.details["new_pid"] == 5151
    monitor.status(dataclasses.replace(BASE, pid=5151))
    clock.now += 10
    assert monitor.tick() == []


def test_a_killed_daemon_replaced_by_another_gives_both_alarms_once(clock: Clock) -> None:
    """auditd 4242 SIGKILLed (dies registered), auditd 5151 replaces it (``audit_pid=5151
    old=4242``): the death and the replacement, one alarm each."""
    monitor = LiveMonitor(clock=clock, own_pids=frozenset({99}), mode="multicast")
    monitor.status(BASE)
    alarms = monitor.status(dataclasses.replace(BASE, pid_alive=False))
    alarms += monitor.group(_pid_record(5151, 4242))
    alarms += monitor.status(dataclasses.replace(BASE, pid=5151))
    clock.now += 3
    alarms += monitor.tick()
    assert sorted(a.kind for a in alarms) == [kinds.AUDIT_PID_CHANGED, kinds.COLLECTOR_STOPPED]
    clock.now += 10
    assert monitor.tick() == []


def test_a_daemon_replaced_between_two_polls_gives_both_alarms(clock: Clock) -> None:
    """Killed and replaced within one poll, with no record seen: the pid goes straight from 4242 to
    5151. The kernel lets no daemon replace a live one, so 4242 is gone: both alarms."""
    monitor = LiveMonitor(clock=clock, own_pids=frozenset({99}), mode="multicast")
    monitor.status(BASE)
    assert monitor.status(dataclasses.replace(BASE, pid=5151)) == []  # waits for the records
    clock.now += 3
    stopped, changed = monitor.tick()
    assert stopped.kind == kinds.COLLECTOR_STOPPED and stopped.details["pid"] == 4242
    assert changed.kind == kinds.AUDIT_PID_CHANGED and changed.details["new_pid"] == 5151
    assert "5151 registered in its place" in stopped.summary
