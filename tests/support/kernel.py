"""The harness of the tests against the real kernel audit subsystem (the folders that need its
fixtures import them into their conftest: tests/kernel, tests/config, tests/package).

Every test that touches the kernel takes the ``kernel`` fixture: it holds the machine-wide kernel
lock, snapshots the state, sets the machine's own rules aside, restores it all afterwards (even
when the test fails), and then checks with ``auditctl`` - an observer independent of exectrail's
own netlink code - that the state is exactly what it was. Where the kernel refuses (not root, no
audit, immutable) the test is skipped on a developer machine and FAILS in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from exectrail.errors import KernelAuditError
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.state import KernelState
from tests.support.auditd_harness import terminate
from tests.support.ci import skip_or_fail
from tests.support.kernel_baseline import clear_rules
from tests.support.kernel_lock import kernel_lock

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: processes a kernel test started that may hold kernel state (a running ``watch``): the ``kernel``
#: fixture stops those still running (SIGTERM: they restore what they changed) before it restores
LIVE: list[subprocess.Popen[Any]] = []
OBSERVED = ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time")
EXECTRAIL = [sys.executable, "-m", "exectrail.cli.main"]


def refuse(reason: str) -> NoReturn:
    """Skip locally, fail in CI: a CI run must prove the kernel tests ran."""
    skip_or_fail(f"kernel: {reason}")


def run(args: list[str], check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stdout}{result.stderr}")
    return result


def auditctl(*args: str) -> str:
    return run(["auditctl", *args]).stdout


def exectrail(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([*EXECTRAIL, *args], check=check)


def observe() -> dict[str, Any]:
    """The audit state as auditctl reports it (status fields and the rule listing)."""
    state: dict[str, Any] = {}
    for line in auditctl("-s").splitlines():
        name, _, value = line.partition(" ")
        if name in OBSERVED:
            state[name] = int(value)
    state["rules"] = auditctl("-l")
    return state


def stop_live_processes() -> None:
    """SIGTERM (then SIGKILL) every process of :data:`LIVE` still running, and reap it."""
    while LIVE:
        terminate(LIVE.pop(), timeout=30)


@dataclass
class Kernel:
    """What a kernel test gets: our client, and the state it starts from (the machine's own rules
    set aside: see :mod:`tests.support.kernel_baseline`) as a snapshot and as auditctl sees it."""

    client: AuditClient
    snapshot: KernelState
    before: dict[str, Any]


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    if os.geteuid() != 0:
        refuse("needs root")
    if shutil.which("auditctl") is None:
        refuse("needs auditctl (apt-get install auditd)")
    with kernel_lock():
        try:
            client = AuditClient()
            snapshot = KernelState.capture(client)
        except KernelAuditError as exc:
            refuse(str(exc))
        if snapshot.status.enabled == 2:
            client.close()
            refuse("the audit configuration is immutable (enabled=2)")
        found = observe()
        try:
            clear_rules(client)  # the test starts from no rules; the restore brings the found ones back
            yield Kernel(client, KernelState.capture(client), observe())
        finally:
            try:
                stop_live_processes()  # a failed test may leave its watch running
                snapshot.restore(client)
            finally:
                client.close()
        after = observe()
    assert after == found, "kernel audit state not restored"
