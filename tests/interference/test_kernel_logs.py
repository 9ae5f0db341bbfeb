"""Interference done for real -- real kernel, real auditd -- then found in the log it wrote.

Each test runs a private auditd (``auditd -n -c CONFDIR``, ENRICHED log in a temporary directory)
under the machine-wide kernel lock, interferes (auditctl -D / -e 0 / -d / -b / -f / -r, auditd
stopped, killed, stalled; a SERVICE_STOP sent as systemd would; rotated files removed; the log
edited by hand), and runs ``exectrail alarms`` / ``exectrail review`` on what auditd wrote. The
kernel state (status and rules) is put back exactly and checked with auditctl afterwards. Without
root or audit support the tests are skipped; with CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exectrail.interference import kinds
from exectrail.interference.detector import scan_logs
from exectrail.interference.trail import Settings
from exectrail.model import CERTAIN, SUSPICIOUS
from tests.support import logedit as ed
from tests.support.auditd_session import (
    AUDITD_STOP_TEXT,
    PROCMON_RULES,
    SERVICE_STOP,
    TRUE,
    AuditClientStatus,
    auditctl,
    kernel_session,
    send_user_message,
)

pytestmark = pytest.mark.kernel
EXECTRAIL = [sys.executable, "-m", "exectrail.cli.main"]
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def exectrail(*args: str) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run(
        [*EXECTRAIL, *args, "--format", "jsonl"], capture_output=True, text=True, timeout=120
    )
    found = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, found, proc.stderr


def alarms_of(*paths: Path) -> list[dict[str, object]]:
    code, found, err = exectrail("alarms", *map(str, paths))
    assert code in (0, 3), err
    return found


def kinds_of(found: list[dict[str, object]]) -> list[object]:
    return [a["kind"] for a in found]


def run_true(label: str, times: int = 1) -> None:
    for i in range(times):
        subprocess.run([TRUE, f"{label}-{i}"], check=True, env=ENV)


def test_delete_all_rules(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        auditctl("-w", "/etc/shadow", "-p", "wa", "-k", "shadow")
        run_true("before")
        auditctl("-D")
        run_true("unseen")
        auditd.mark()
        auditd.stop()
        log = auditd.log_path
    found = alarms_of(log)
    assert kinds_of(found) == [kinds.RULES_REMOVED, kinds.COLLECTOR_STOPPED]
    removed = found[0]
    assert removed["certainty"] == CERTAIN and removed["details"]["count"] == 3  # type: ignore[index]
    assert removed["details"]["keys"] == ["procmon", "shadow"]  # type: ignore[index]
    assert removed["details"]["actor"]["exe"] == "/usr/sbin/auditctl"  # type: ignore[index]
    assert b"unseen" not in log.read_bytes()  # the exec after -D was indeed not recorded
    code, shown, err = exectrail("review", str(log))
    assert code == 0 and [o["kind"] for o in shown if o["type"] == "alarm"] == kinds_of(found)
    assert "2 alarms (2 certain, 0 suspicious)" in err


def test_disable_then_enable(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        run_true("before")
        auditctl("-e", "0")
        run_true("while-disabled", 3)
        time.sleep(0.6)
        auditctl("-e", "1")
        run_true("after")
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    [disabled] = [a for a in alarms_of(log) if a["kind"] == kinds.AUDIT_DISABLED]
    assert disabled["certainty"] == CERTAIN and disabled["details"]["until"] is not None  # type: ignore[index]
    assert disabled["details"]["blind_ms"] >= 600  # type: ignore[index]
    assert b"while-disabled" not in log.read_bytes()


def test_delete_one_procmon_rule(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        auditctl("-d", *PROCMON_RULES[1])
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    found = alarms_of(log)
    assert kinds_of(found) == [kinds.RULES_REMOVED, kinds.COLLECTOR_STOPPED]
    assert found[0]["details"]["count"] == 1 and found[0]["details"]["procmon_rules"] == 1  # type: ignore[index]
    assert "1 procmon exec rule deleted" in str(found[0]["summary"])


def test_backlog_failure_and_rate_limit(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        auditctl("-b", "8192")  # raising: harmless
        auditctl("-b", "128")
        auditctl("--backlog_wait_time", "0")
        auditctl("-f", "0")  # never 2
        auditctl("-r", "5000")
        auditctl("-r", "0")
        auditctl("-f", "1")
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    found = [a for a in alarms_of(log) if a["kind"] != kinds.COLLECTOR_STOPPED]
    got = [(a["kind"], a["details"]["setting"], a["certainty"]) for a in found]  # type: ignore[index]
    assert got == [
        (kinds.BACKLOG_LOWERED, "audit_backlog_limit", SUSPICIOUS),
        (kinds.BACKLOG_LOWERED, "audit_backlog_wait_time", SUSPICIOUS),
        (kinds.FAILURE_MODE_CHANGED, "audit_failure", CERTAIN),
        (kinds.RATE_LIMIT_SET, "audit_rate_limit", SUSPICIOUS),
    ]
    assert (found[0]["details"]["old"], found[0]["details"]["new"]) == (8192, 128)  # type: ignore[index]


def test_auditd_stopped_then_killed(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        auditd.sync()
        auditd.stop()
        run_true("while-stopped", 3)
        time.sleep(1)
        auditd.start()
        auditd.sync()
        auditd.kill()
        run_true("while-killed", 3)
        time.sleep(1)
        auditd.start()
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    found = alarms_of(log)
    assert kinds_of(found) == [kinds.COLLECTOR_STOPPED, kinds.COLLECTOR_KILLED, kinds.COLLECTOR_STOPPED]
    for outage in found[:2]:
        details = outage["details"]
        assert outage["certainty"] == CERTAIN
        assert details["blind_ms"] >= 1000 and details["events_missing"] >= 3  # type: ignore[index]
    text = log.read_bytes()
    assert b"while-stopped" not in text and b"while-killed" not in text


def test_service_stop_of_auditd(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        send_user_message(SERVICE_STOP, AUDITD_STOP_TEXT)
        auditd.wait_for(b"type=SERVICE_STOP")
        auditd.stop()
        log = auditd.log_path
    [stop] = [a for a in alarms_of(log) if a["kind"] == kinds.SERVICE_STOPPED]
    assert stop["details"]["unit"] == "auditd" and stop["details"]["actor"]["pid"] == os.getpid()  # type: ignore[index]


def test_rules_added_late(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        run_true("not-recorded", 3)
        time.sleep(1.5)
        auditd.add_procmon_rules()
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    found = scan_logs([str(log)], Settings(rules_late_ms=1000))[0]
    [late] = [a for a in found if a.kind == kinds.EXEC_RULES_MISSING]
    assert late.certainty == CERTAIN and late.details["missing_ms"] >= 1500  # type: ignore[operator]


def test_no_exec_rules_at_all(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()  # no rules: execs are not recorded, user messages are
        for i in range(110):
            auditctl("-m", f"activity-{i}")
        run_true("not-recorded", 3)
        auditd.mark()
        auditd.stop()
        log = auditd.log_path
    [missing] = [a for a in alarms_of(log) if a["kind"] == kinds.EXEC_RULES_MISSING]
    assert missing["certainty"] == SUSPICIOUS and missing["details"]["events"] >= 110  # type: ignore[index]
    assert b"not-recorded" not in log.read_bytes()


def test_rotated_set_with_a_file_removed(tmp_path: Path) -> None:
    with kernel_session(tmp_path, max_log_file=1, max_log_file_action="ROTATE", num_logs=6) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        filler = "A" * 4000
        while len(auditd.logs()) < 4:
            subprocess.run([TRUE, filler] * 1, check=True, env=ENV)
        auditd.sync()
        os.kill(auditd.pid, signal.SIGUSR1)  # a rotation by request: the new file starts with DAEMON_ROTATE
        auditd.wait_for(b"type=DAEMON_ROTATE")
        auditd.sync()
        auditd.stop()
        logs = auditd.logs()
    assert len(logs) >= 5 and logs[-1].read_bytes().startswith(b"type=DAEMON_ROTATE")
    assert kinds.LOG_FILE_MISSING not in kinds_of(alarms_of(*logs))
    gone = logs[1]
    kept = [p for p in logs if p != gone]
    [missing] = [a for a in alarms_of(*kept) if a["kind"] == kinds.LOG_FILE_MISSING]
    assert missing["certainty"] == CERTAIN
    assert missing["details"]["previous_file"] == str(logs[0]) and missing["details"]["file"] == str(logs[2])  # type: ignore[index]
    assert missing["details"]["events_missing"] > 10  # type: ignore[index]
    assert kinds.LOG_HEAD_MISSING not in kinds_of(alarms_of(*logs[1:]))  # audit.log.N: rotated away


def test_resume_signal(tmp_path: Path) -> None:
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        auditd.sync()
        os.kill(auditd.pid, signal.SIGUSR2)  # "resume logging": auditd writes DAEMON_RESUME
        auditd.wait_for(b"type=DAEMON_RESUME")
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    [resume] = [a for a in alarms_of(log) if a["kind"] == kinds.LOGGING_SUSPENDED]
    assert resume["certainty"] == SUSPICIOUS  # it was not suspended: no kernel event is missing
    assert "no kernel event is missing" in str(resume["summary"])


@pytest.fixture(scope="module")
def fresh_log(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    workdir = tmp_path_factory.mktemp("fresh")
    with kernel_session(workdir) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        run_true("workload", 40)
        auditd.sync()
        auditd.stop()
        return ed.read_lines(auditd.log_path)


@pytest.mark.parametrize(
    ("edit", "kind", "certainty"),
    [
        ("drop_event", kinds.EVENTS_MISSING, CERTAIN),
        ("drop_line", kinds.EVENT_INCOMPLETE, SUSPICIOUS),
        ("drop_syscall", kinds.EVENT_INCOMPLETE, CERTAIN),  # who ran it: removed on purpose
        ("change_uid", kinds.LINE_EDITED, SUSPICIOUS),
        ("change_syscall", kinds.LINE_EDITED, CERTAIN),
        ("garbage", kinds.LINE_MALFORMED, CERTAIN),
        ("copy_event", kinds.LINE_EDITED, CERTAIN),
    ],
)
def test_log_edited_by_hand(
    fresh_log: list[bytes], tmp_path: Path, edit: str, kind: str, certainty: str
) -> None:
    lines = list(fresh_log)
    victim = ed.exec_serials(lines, b"workload-20")[0]
    edits = {
        "drop_event": lambda: ed.drop_event(lines, victim),
        "drop_line": lambda: ed.drop_record(lines, victim, "PATH"),
        "drop_syscall": lambda: ed.drop_record(lines, victim, "SYSCALL"),
        "change_uid": lambda: ed.change_field(lines, victim, "SYSCALL", b" uid=0 ", b" uid=1000 "),
        "change_syscall": lambda: ed.change_field(lines, victim, "SYSCALL", b"syscall=59 ", b"syscall=57 "),
        "garbage": lambda: [*lines[:50], b"Nov 25 12:00:00 host sshd[1]: accepted\n", *lines[50:]],
        "copy_event": lambda: lines[:-20] + ed.event_lines(lines, victim) + lines[-20:],
    }
    before = set(kinds_of(alarms_of(ed.write(tmp_path / "clean.log", lines))))
    assert kind not in before
    found = [a for a in alarms_of(ed.write(tmp_path / "audit.log", edits[edit]())) if a["kind"] == kind]
    assert len(found) == 1 and found[0]["certainty"] == certainty


def test_stalled_auditd_loses_events_silent_gap(tmp_path: Path) -> None:
    """auditd stopped (SIGSTOP) for 4 s under a busy exec loop, backlog 64 and no wait: the kernel
    drops events (the lost counter rises; most drops use no serial number), the log shows a quiet
    stretch on a busy host."""
    with kernel_session(tmp_path) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        auditctl("-b", "64")
        auditctl("--backlog_wait_time", "0")
        lost_before = AuditClientStatus.lost()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            run_true("busy")
        os.kill(auditd.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                run_true("stalled")
        finally:
            os.kill(auditd.pid, signal.SIGCONT)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            run_true("busy-again")
        lost = AuditClientStatus.lost() - lost_before
        auditd.sync()
        auditd.stop()
        log = auditd.log_path
    assert lost > 0, "the stalled auditd did not make the kernel lose events"
    _code, found, _ = exectrail("alarms", "--silent-gap", "2", str(log))
    [gap] = [a for a in found if a["kind"] == kinds.SILENT_GAP]
    assert gap["certainty"] == SUSPICIOUS and gap["details"]["gap_ms"] >= 2000  # type: ignore[index]
    _code, found, _ = exectrail("alarms", str(log))  # the default (300 s) does not call 2 s a gap
    assert kinds.SILENT_GAP not in kinds_of(found)
