"""Interference while ``exectrail watch`` runs, against the real kernel: each gives exactly the alarm
expected; ``--repair`` puts things back (and they are gone after exit); everything captured reaches
the store and the sinks; heartbeats; an unclean exit is reported by ``status`` and the next watch.

Every test holds the kernel lock and gets the machine's audit state back (the ``kernel`` fixture
checks it with auditctl). Nothing here sets failure mode 2 or ``enabled=2``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.kernel import EXECTRAIL, Kernel, auditctl, observe, run
from tests.support.live import Auditd, WatchProcess, read_jsonl, running_auditd, wait_for_exec_marker

pytestmark = pytest.mark.kernel
GRACE = 3.5  # longer than the monitor's poll (1 s) plus its grace (2 s): a duplicate would show


def alarms_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("type") == "alarm"]


def stop_clean(watch: WatchProcess, expected_exit: int = 0) -> str:
    code = watch.stop()
    text = "".join(watch.stderr)
    assert code == expected_exit, text
    assert "Traceback" not in text
    return text


def interfere(watch: WatchProcess, *args: str, alarm: str) -> None:
    """Run ``auditctl ARGS`` while watch runs; wait for the alarm, then long enough for a duplicate."""
    auditctl(*args)
    watch.wait_stderr(alarm)
    time.sleep(GRACE)


def procmon_rule_lines() -> list[str]:
    return [line for line in auditctl("-l").splitlines() if "key=procmon" in line]


def exectrail_env(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = ["env", f"EXECTRAIL_STATE_DIR={tmp_path / 'state'}"]
    return run([*env, *EXECTRAIL, *args])


# -- one interference, one alarm -----------------------------------------------------------------
def test_delete_all_rules(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    interfere(watch, "-D", alarm="ALARM rules-removed")
    stop_clean(watch)
    [alarm] = alarms_of(watch.objects())
    assert alarm["kind"] == "rules-removed" and alarm["certainty"] == "certain"
    assert alarm["details"]["count"] == 2 and alarm["details"]["procmon_rules"] == 2
    assert alarm["details"]["actor"]["exe"] == "/usr/sbin/auditctl"


def test_delete_one_of_our_rules(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    [b32] = [line for line in procmon_rule_lines() if "arch=b32" in line]
    interfere(watch, *b32.replace("-a ", "-d ", 1).split(), alarm="ALARM rules-removed")
    assert len(procmon_rule_lines()) == 1
    stop_clean(watch)  # our own deletion of the other rule on the way out gives no alarm
    [alarm] = alarms_of(watch.objects())
    assert alarm["kind"] == "rules-removed" and alarm["details"]["count"] == 1
    assert alarm["summary"].startswith("1 procmon exec rule deleted (by /usr/sbin/auditctl")


def test_disable_audit(kernel: Kernel, tmp_path: Path) -> None:
    if kernel.snapshot.status.enabled != 0:
        auditctl("-e", "0")  # so that watch is the one enabling audit (the fixture restores it)
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    interfere(watch, "-e", "0", alarm="ALARM audit-disabled")
    text = stop_clean(watch)
    [alarm] = alarms_of(watch.objects())
    assert alarm["kind"] == "audit-disabled" and alarm["details"]["actor"]["comm"] == "auditctl"
    assert "enabled was changed by someone else to 0: left as is" in text


def test_change_failure_mode(kernel: Kernel, tmp_path: Path) -> None:
    if kernel.snapshot.status.failure != 1:
        auditctl("-f", "1")  # so that the change below is one (never 2; the fixture restores it)
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    interfere(watch, "-f", "0", alarm="ALARM failure-mode-changed")
    stop_clean(watch)
    [alarm] = alarms_of(watch.objects())
    assert alarm["kind"] == "failure-mode-changed" and alarm["details"]["new"] == 0


def test_lower_the_backlog(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon", "--backlog", "9000")
    interfere(watch, "-b", "100", alarm="SUSPICIOUS backlog-lowered")
    wait_for_exec_marker(watch.out)
    stop_clean(watch)
    [alarm] = alarms_of(watch.objects())
    assert alarm["kind"] == "backlog-lowered" and alarm["certainty"] == "suspicious"
    assert (alarm["details"]["old"], alarm["details"]["new"]) == (9000, 100)


def test_delete_all_rules_beside_auditd(kernel: Kernel, tmp_path: Path) -> None:
    with running_auditd(tmp_path / "auditd"):
        watch = WatchProcess(tmp_path, "--mode", "multicast")
        interfere(watch, "-D", alarm="ALARM rules-removed")
        stop_clean(watch)
    [alarm] = alarms_of(watch.objects())
    assert alarm["kind"] == "rules-removed" and alarm["details"]["procmon_rules"] == 2


def test_stalled_consumer_makes_lost_rise(kernel: Kernel, tmp_path: Path) -> None:
    """auditd stopped (SIGSTOP) under an exec loop, backlog 64 and no wait: the kernel drops
    records; watch (multicast) reports the lost counter's rise, all of it, and exits 1."""
    auditctl("-b", "64", "--backlog_wait_time", "0")
    with running_auditd(tmp_path / "auditd") as auditd:
        watch = WatchProcess(tmp_path, "--mode", "multicast")
        lost_before = kernel.client.get_status().lost
        auditd.proc.send_signal(signal.SIGSTOP)
        try:
            subprocess.run(["sh", "-c", "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done"])
        finally:
            auditd.proc.send_signal(signal.SIGCONT)
        watch.wait_stderr("ALARM events-lost")
        time.sleep(GRACE)
        wait_for_exec_marker(watch.out)
        text = stop_clean(watch, expected_exit=1)
        lost = kernel.client.get_status().lost - lost_before
    assert lost > 0
    alarms = alarms_of(watch.objects())
    assert {a["kind"] for a in alarms} == {"events-lost"}
    assert sum(a["details"]["lost"] for a in alarms) == lost
    assert f"{lost} events lost by the kernel" in text


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_audit_pid_changes_to_a_second_auditd(kernel: Kernel, tmp_path: Path, stop: int) -> None:
    """auditd A (its own conf dir) stopped or killed, auditd B (another conf dir, another log) takes
    the registration: watch (multicast) raises one alarm for A going and one for B taking over."""
    first = Auditd(tmp_path / "auditd-a")
    try:
        watch = WatchProcess(tmp_path, "--mode", "multicast")
        first.stop(stop)
        with running_auditd(tmp_path / "auditd-b") as second:
            watch.wait_stderr("ALARM audit-pid-changed")
            watch.wait_stderr("ALARM collector-stopped")
            time.sleep(GRACE)
            wait_for_exec_marker(watch.out)
            stop_clean(watch)
    finally:
        first.stop()
    a, b = first.proc.pid, second.proc.pid
    alarms = {alarm["kind"]: alarm for alarm in alarms_of(watch.objects())}
    assert len(alarms) == len(alarms_of(watch.objects())) == 2, alarms  # one of each, no duplicate
    stopped, changed = alarms["collector-stopped"], alarms["audit-pid-changed"]
    assert f"(pid {a})" in stopped["summary"] and stopped["certainty"] == "certain"
    assert changed["certainty"] == "certain" and str(b) in changed["summary"]
    if stop == signal.SIGTERM:  # A unregistered itself: its record, then B registering seen by polling
        assert stopped["details"]["pid"] == a and "unregistered itself" in stopped["summary"]
    # after the fact: A's log then B's is auditd stopped and started again, with the blind spot
    logs = [str(tmp_path / d / "audit.log") for d in ("auditd-a", "auditd-b")]
    found = run([*EXECTRAIL, "alarms", "--format", "jsonl", *logs], check=False)
    assert found.returncode == 3, found.stderr
    kind = "collector-stopped" if stop == signal.SIGTERM else "collector-killed"
    [blind] = [x for x in read_lines(found.stdout) if x["kind"] == kind and x["details"].get("restarted")]
    assert any("type=DAEMON_START " in line and f" pid={b} " in line for line in blind["evidence"])


# -- --repair -------------------------------------------------------------------------------------
def test_repair_puts_rules_and_audit_back(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon", "--repair")
    rules = procmon_rule_lines()
    auditctl("-D")
    watch.wait_stderr("ALARM rules-removed")
    watch.wait_stderr("REPAIRED: reinstalled 2 procmon rules")
    assert sorted(procmon_rule_lines()) == sorted(rules)
    wait_for_exec_marker(watch.out)  # exec events are captured again
    auditctl("-e", "0")
    watch.wait_stderr("REPAIRED: re-enabled audit")
    assert kernel.client.get_status().enabled == 1
    wait_for_exec_marker(watch.out)
    [b64] = [line for line in procmon_rule_lines() if "arch=b64" in line]
    auditctl(*b64.replace("-a ", "-d ", 1).split())
    watch.wait_stderr("REPAIRED: reinstalled 1 procmon rule")
    time.sleep(GRACE)
    text = stop_clean(watch)
    alarms = alarms_of(watch.objects())
    assert [a["kind"] for a in alarms] == ["rules-removed", "audit-disabled", "rules-removed"]
    assert [a["details"]["repaired"] for a in alarms] == [
        ["reinstalled 2 procmon rules"],
        ["re-enabled audit"],
        ["reinstalled 1 procmon rule"],
    ]
    assert "3 alarms, 3 repairs" in text
    assert procmon_rule_lines() == []  # what --repair re-added went on exit
    assert observe() == kernel.before


# -- store, sinks, heartbeats ---------------------------------------------------------------------
def test_watch_stores_every_event_and_alarm(kernel: Kernel, tmp_path: Path) -> None:
    db = tmp_path / "explicit.db"
    shown = ("--argv-contains", "exectrail-sync-")  # only the sync markers are shown
    watch = WatchProcess(tmp_path, "--mode", "daemon", "--db", str(db), *shown)
    interfere(watch, "-b", "100", alarm="SUSPICIOUS backlog-lowered")
    marker = f"stored-marker-{time.time_ns()}"
    subprocess.run(["/usr/bin/true", marker], check=True)
    wait_for_exec_marker(watch.out)
    text = stop_clean(watch)
    assert all("exectrail-sync-" in e["argv"][1] for e in watch.events())  # the marker is not shown …
    assert f"store {db}:" in text
    found = run([*EXECTRAIL, "search", "--db", str(db), "--argv-contains", marker, "--format", "jsonl"])
    [event] = read_lines(found.stdout)  # … the store has every event
    assert event["argv"] == ["/usr/bin/true", marker]
    alarms = run([*EXECTRAIL, "alarms", "--db", str(db), "--format", "jsonl"], check=False)
    assert alarms.returncode == 3
    assert [a["kind"] for a in read_lines(alarms.stdout)] == ["backlog-lowered"]
    assert run([*EXECTRAIL, "verify", "--db", str(db)]).stdout.startswith("intact: ")
    assert not (tmp_path / "events.db").exists()  # --db, not the default


def test_no_store(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon", "--no-store")
    wait_for_exec_marker(watch.out)
    text = stop_clean(watch)
    assert "store " not in text and not (tmp_path / "events.db").exists()


def test_sink_gets_events_alarms_and_heartbeats(kernel: Kernel, tmp_path: Path) -> None:
    out, spool = tmp_path / "sink.jsonl", tmp_path / "spool"
    watch = WatchProcess(
        tmp_path, "--mode", "daemon", "--sink", f"jsonl://{out}", "--spool", str(spool), "--heartbeat", "1"
    )
    time.sleep(2.5)
    interfere(watch, "-b", "100", alarm="SUSPICIOUS backlog-lowered")
    wait_for_exec_marker(watch.out)
    text = stop_clean(watch)
    received = read_jsonl(out)
    exec_ids = [o["id"] for o in received if o["type"] == "exec"]
    assert len(set(exec_ids)) == len(exec_ids) == len(watch.events()) > 0  # every event, once
    [alarm] = [o for o in received if o["type"] == "alarm"]
    assert alarm["kind"] == "backlog-lowered" and alarm["host"] and alarm["id"].startswith("alarm:")
    beats = [o for o in received if o["type"] == "heartbeat"]
    assert len(beats) >= 5 and beats[0]["state"] == "started" and beats[-1]["state"] == "stopped"
    assert all(b["state"] == "running" for b in beats[1:-1])
    assert beats[-1]["counters"]["events"] == len(exec_ids) == beats[-1]["counters"]["stored"]
    assert beats[-1]["counters"]["alarms"] == 1
    assert f"sink jsonl://{out}: {len(received)} delivered" in text
    report = json.loads(exectrail_env(tmp_path, "status", "--format", "json", "--spool", str(spool)).stdout)
    [sink] = report["sinks"]
    assert sink["sink"] == f"jsonl://{out}" and sink["running"] is False
    assert (sink["backlog"], sink["delivered"], sink["dropped"]) == (0, len(received), 0)


# -- unclean exit ---------------------------------------------------------------------------------
def test_unclean_exit_is_reported_by_status_and_the_next_watch(kernel: Kernel, tmp_path: Path) -> None:
    first = WatchProcess(tmp_path, "--mode", "daemon")
    first.sync()
    time.sleep(1.5)  # a sign of life or two
    first.stop(signal.SIGKILL)
    report = json.loads(exectrail_env(tmp_path, "status", "--format", "json").stdout)
    [unclean] = report["unclean_exits"]
    assert unclean["pid"] == first.proc.pid and unclean["mode"] == "daemon"
    assert "2 rule(s) it added" in unclean["left"]
    assert unclean["started"] < unclean["last_alive"] <= time.time()
    assert any("did not exit cleanly" in w and "last alive" in w for w in report["warnings"])
    second = WatchProcess(tmp_path, "--mode", "daemon", "--duration", "1")
    assert second.proc.wait(timeout=60) == 0
    [alarm] = alarms_of(second.objects())
    assert alarm["kind"] == "collector-killed" and alarm["details"]["pid"] == first.proc.pid
    assert "did not exit cleanly" in alarm["summary"] and alarm["details"]["repaired"]
    stored = run([*EXECTRAIL, "alarms", "--db", str(second.db), "--format", "jsonl"], check=False)
    assert [a["kind"] for a in read_lines(stored.stdout)] == ["collector-killed"]
    assert json.loads(exectrail_env(tmp_path, "status", "--format", "json").stdout)["unclean_exits"] == []
    assert observe() == kernel.before


def read_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
