"""After the fact, on the real logs captured by tests/interference/capture.py: every configuration
interference and every auditd restart gives exactly its alarm, with who, when and how long."""

from __future__ import annotations

from exectrail.interference import kinds
from exectrail.interference.detector import scan_logs
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm
from exectrail.timefmt import format_duration
from tests.support.paths import INTERFERENCE_DATA as DATA


def alarms(name: str) -> list[Alarm]:
    return scan_logs([str(DATA / name)])[0]


def test_config_changes() -> None:
    found = alarms("config_changes.log")
    assert [(a.kind, a.certainty) for a in found] == [
        (kinds.AUDIT_DISABLED, CERTAIN),
        (kinds.FAILURE_MODE_CHANGED, CERTAIN),
        (kinds.BACKLOG_LOWERED, SUSPICIOUS),  # backlog_wait_time 15000 -> 0 (-b 100 raised it from 64)
        (kinds.RATE_LIMIT_SET, SUSPICIOUS),
        (kinds.RULES_REMOVED, CERTAIN),
        (kinds.RULES_REMOVED, CERTAIN),
        (kinds.SERVICE_STOPPED, CERTAIN),
        (kinds.COLLECTOR_STOPPED, CERTAIN),
    ]
    disabled, failure, backlog, rate, one, delete_all, service, stopped = found
    assert disabled.details["setting"] == "audit_enabled" and disabled.details["until"] is not None
    assert disabled.details["actor"]["exe"] == "/usr/sbin/auditctl"  # type: ignore[index]
    assert (failure.details["new"], failure.details["old"]) == (0, 1)
    assert (backlog.details["setting"], backlog.details["new"]) == ("audit_backlog_wait_time", 0)
    assert rate.details["new"] == 100
    assert one.details["count"] == 1 and one.details["until"] is not None  # re-added by auditctl -a
    assert delete_all.details["count"] == 3 and delete_all.details["keys"] == ["procmon", "shadow"]
    assert delete_all.details["until"] is not None  # the rules were put back
    assert service.details["unit"] == "auditd"
    assert stopped.details["restarted"] is None


def test_restarts() -> None:
    found = alarms("restarts.log")
    assert [a.kind for a in found] == [
        kinds.COLLECTOR_STOPPED,
        kinds.COLLECTOR_KILLED,
        kinds.COLLECTOR_STOPPED,
    ]
    stopped, killed, end = found
    for outage in (stopped, killed):
        assert outage.certainty == CERTAIN
        assert 900 <= outage.details["blind_ms"] < 30_000  # type: ignore[operator]
        assert outage.details["events_missing"] >= 3  # type: ignore[operator]  # the execs while it was down
        assert format_duration(outage.details["blind_ms"]) in outage.summary  # type: ignore[arg-type]
    assert "DAEMON_END" in stopped.evidence[0] and "DAEMON_START" in stopped.evidence[1]
    assert "without a DAEMON_END" in killed.summary
    assert end.details["restarted"] is None


def test_no_false_alarm_on_the_plain_parts() -> None:
    kinds_found = {a.kind for a in alarms("config_changes.log") + alarms("restarts.log")}
    for kind in (kinds.EVENTS_MISSING, kinds.EVENT_INCOMPLETE, kinds.LINE_EDITED, kinds.TIME_BACKWARDS,
                 kinds.SILENT_GAP, kinds.SERIAL_RESTART, kinds.LOG_HEAD_MISSING):  # fmt: skip
        assert kind not in kinds_found
