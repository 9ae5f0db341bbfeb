"""`exectrail status` and daemon registration against the real kernel."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest

from exectrail.kernel.netlink.client import AuditClient, NetlinkAuditError
from tests.support.kernel import EXECTRAIL, Kernel, auditctl, exectrail

pytestmark = pytest.mark.kernel

REGISTER = """
import time
from exectrail.kernel.netlink.client import AuditClient
client = AuditClient()
client.register_daemon()
print("ready", flush=True)
time.sleep(60)
"""


def status_json() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(exectrail("status", "--format", "json").stdout)
    return result


def registered_child() -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", REGISTER], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_status_matches_auditctl(kernel: Kernel) -> None:
    report = status_json()
    for name, value in kernel.before.items():
        if name != "rules":
            assert report[name] == value, name
    assert report["rules"] == len(kernel.snapshot.rules)
    table = exectrail("status").stdout
    assert f"backlog limit  {kernel.before['backlog_limit']}" in table
    assert "procmon rules" in table


def test_status_procmon_and_warnings(kernel: Kernel) -> None:
    auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "procmon")
    report = status_json()
    assert report["procmon"]["state"] == "partial"
    assert "b32 execve" in report["procmon"]["missing"]
    assert any("procmon rules incomplete" in w for w in report["warnings"])
    exectrail("rules", "install")
    report = status_json()
    assert report["procmon"]["state"] == "complete"
    assert not any("procmon" in w for w in report["warnings"])
    if report["enabled"] == 0:
        assert any("audit is disabled" in w for w in report["warnings"])


def test_stale_audit_pid_is_reported_and_repaired(kernel: Kernel) -> None:
    child = registered_child()
    assert kernel.client.get_status().pid == child.pid
    child.send_signal(signal.SIGKILL)
    child.wait()
    report = status_json()
    assert report["pid"] == child.pid and not report["pid_alive"]
    assert any("stale" in w for w in report["warnings"])
    repaired = exectrail("status", "--repair")
    assert f"unregistered stale audit pid {child.pid}" in repaired.stderr
    assert kernel.client.get_status().pid == 0


def test_registration_refused_beside_another_daemon(kernel: Kernel) -> None:
    child = registered_child()
    try:
        with AuditClient() as other, pytest.raises(NetlinkAuditError) as info:
            other.register_daemon()
        assert "use --mode multicast" in str(info.value)
        assert str(child.pid) in str(info.value)
    finally:
        child.terminate()
        child.wait()


def test_refuses_panic_and_immutable_without_asking_the_kernel(kernel: Kernel) -> None:
    with pytest.raises(NetlinkAuditError, match="failure=2"):
        kernel.client.set_status(failure=2)
    with pytest.raises(NetlinkAuditError, match="enabled=2"):
        kernel.client.set_status(enabled=2)
    assert kernel.client.get_status().failure == kernel.before["failure"]


def test_errors_are_one_line_without_traceback(kernel: Kernel) -> None:
    bad = exectrail("rules", "install", "-F", "nosuch=1", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("exectrail: ") and bad.stderr.count("\n") == 1
    # root without capabilities (an unprivileged user could not run this interpreter from /root)
    unprivileged = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", *EXECTRAIL, "rules", "install"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unprivileged.returncode == 2
    assert unprivileged.stderr.startswith("exectrail: cannot ")
    assert unprivileged.stderr.endswith(": needs root or CAP_AUDIT_CONTROL\n")
    assert unprivileged.stderr.count("\n") == 1
