"""KernelState / guarded_kernel_state put the kernel back: on exit, exceptions and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.rules.procmon import ProcmonSpec, procmon_rules
from exectrail.kernel.state import KernelState, guarded_kernel_state
from tests.support.kernel import Kernel, auditctl, observe

pytestmark = pytest.mark.kernel

CHANGE = """
import time
from exectrail.kernel.state import guarded_kernel_state
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.rules.procmon import ProcmonSpec, procmon_rules
with guarded_kernel_state() as guard:
    for rule in procmon_rules(ProcmonSpec(key="guardtest")):
        guard.add_rule(rule.to_bytes())
    guard.set_status(enabled=1, backlog_limit=4321, backlog_wait_time=0)
    reader = AuditClient(rcvbuf=1 << 20)
    guard.register(reader)
    print("ready", flush=True)
    time.sleep(60)
"""


def _sigint_default() -> None:
    # A runner started in the background (`cmd &` in a script, nohup) hands its children SIGINT
    # ignored, and Python then raises no KeyboardInterrupt: the child must get it as a user would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def changed_child() -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHANGE], stdout=subprocess.PIPE, text=True, preexec_fn=_sigint_default
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 128 + 15), (signal.SIGHUP, 128 + 1), (signal.SIGINT, None)]
)
def test_guard_restores_on_signals(kernel: Kernel, sig: int, code: int | None) -> None:
    child = changed_child()
    status = kernel.client.get_status()
    assert (status.enabled, status.backlog_limit, status.pid) == (1, 4321, child.pid)
    assert "guardtest" in auditctl("-l")
    child.send_signal(sig)
    try:
        returncode = child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.terminate()  # do not leave it registered for its whole sleep: it blocks every kernel test
        child.wait(timeout=30)
        raise
    if code is not None:
        assert returncode == code
    assert observe() == kernel.before


def test_guard_restores_on_exception(kernel: Kernel) -> None:
    with pytest.raises(RuntimeError), guarded_kernel_state(kernel.client) as guard:
        for rule in procmon_rules(ProcmonSpec(key="guardtest")):
            guard.add_rule(rule.to_bytes())
        guard.set_status(backlog_limit=1234)
        raise RuntimeError("boom")
    assert observe() == kernel.before


def test_guard_leaves_what_others_changed(kernel: Kernel) -> None:
    with guarded_kernel_state(kernel.client) as guard:
        guard.set_status(backlog_limit=1234)
        auditctl("-b", "2345")  # someone else changes it meanwhile
    assert kernel.client.get_status().backlog_limit == 2345  # not ours any more: left alone


def test_guard_full_restores_everything(kernel: Kernel) -> None:
    with guarded_kernel_state(kernel.client, full=True) as guard:
        guard.set_status(backlog_limit=1234)
        auditctl("-b", "2345")
        auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "chmod", "-k", "foreign")
    assert observe() == kernel.before


def test_snapshot_restore_after_foreign_changes(kernel: Kernel) -> None:
    auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "chmod", "-k", "first")
    auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "chown", "-k", "second")
    with AuditClient() as client:
        snapshot = KernelState.capture(client)
        auditctl("-d", "always,exit", "-F", "arch=b64", "-S", "chmod", "-k", "first")
        auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "mkdir", "-k", "third")
        auditctl("-b", "999", "-r", "50")
        assert snapshot.differences(KernelState.capture(client))
        done = snapshot.restore(client)
        assert done
        assert KernelState.capture(client).differences(snapshot) == []
        assert KernelState.capture(client).rules == snapshot.rules  # order too


def test_own_registration_is_undone(kernel: Kernel) -> None:
    with guarded_kernel_state(kernel.client) as guard, AuditClient() as reader:
        guard.register(reader)
        assert kernel.client.get_status().pid == os.getpid()
    assert kernel.client.get_status().pid == kernel.before["pid"]
