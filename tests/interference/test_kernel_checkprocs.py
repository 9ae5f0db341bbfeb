"""check-procs against the real kernel: processes started by an exec the rules miss are reported.

The rules are temporarily the seed's ``-S execve`` only (no ``execveat``); a small C program
compiled here runs a copy of sleep through ``fexecve`` (execveat), once from the file and once from
an anonymous memory file. Both processes run with no exec event in the trail; a copy started by a
plain execve is in the trail and is not reported. With ``execveat`` added, the same fexecve is
recorded and not reported either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exectrail.interference import kinds
from exectrail.model import CERTAIN
from tests.support.auditd_session import auditctl, kernel_session, refuse
from tests.support.paths import FEXEC_C

pytestmark = pytest.mark.kernel
EXECVE_ONLY = ("always,exit", "-F", "arch=b64", "-S", "execve", "-k", "procmon")
EXECVEAT = ("always,exit", "-F", "arch=b64", "-S", "execveat", "-k", "procmon")


@pytest.fixture
def fexec(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        refuse("needs gcc to build the fexecve helper")
    binary = tmp_path / "fexec"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(binary), str(FEXEC_C)], check=True)
    return binary


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        child.kill()
        child.wait(timeout=10)


def wait_for_exec(child: subprocess.Popen[bytes], helper: Path, timeout: float = 30) -> None:
    """Popen returns once the helper runs; its fexecve comes later (under load, after a check)."""
    deadline = time.monotonic() + timeout
    while os.readlink(f"/proc/{child.pid}/exe") == str(helper):
        assert child.poll() is None, f"fexec exited {child.returncode}"
        assert time.monotonic() < deadline, "the fexec helper never ran its target"
        time.sleep(0.01)


def check_procs(log: Path) -> dict[int, dict[str, dict[str, object]]]:
    proc = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "check-procs", str(log), "--format", "jsonl"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 3), proc.stderr
    found: dict[int, dict[str, dict[str, object]]] = {}
    for line in proc.stdout.splitlines():
        alarm = json.loads(line)
        found.setdefault(alarm["details"]["pid"], {})[alarm["kind"]] = alarm
    return found


def test_fexecve_past_execve_only_rules(
    tmp_path: Path, fexec: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    hidden, visible, later = (tmp_path / name for name in ("hidden-sleep", "visible-sleep", "later-sleep"))
    for copy in (hidden, visible, later):
        shutil.copy2("/usr/bin/sleep", copy)
    (tmp_path / "audit").mkdir()
    with kernel_session(tmp_path / "audit") as auditd:
        auditd.start()
        auditctl("-a", *EXECVE_ONLY)
        time.sleep(0.2)  # processes started within START_MARGIN_MS of the rules are not judged
        children.append(subprocess.Popen([str(visible), "60"]))
        children.append(subprocess.Popen([str(fexec), str(hidden), "sleep", "60"]))
        children.append(subprocess.Popen([str(fexec), "--memfd", "/usr/bin/sleep", "sleep", "60"]))
        for child in children[1:]:
            wait_for_exec(child, fexec)
        auditd.sync()
        found = check_procs(auditd.log_path)
        auditctl("-a", *EXECVEAT)
        children.append(subprocess.Popen([str(fexec), str(later), "sleep", "60"]))
        wait_for_exec(children[-1], fexec)
        auditd.sync()
        found_after = check_procs(auditd.log_path)
        auditd.stop()
    plain, fexecd, memfd, recorded = (child.pid for child in children)
    assert kinds.UNRECORDED_EXEC not in found.get(plain, {})
    for pid in (fexecd, memfd):
        unrecorded = found[pid][kinds.UNRECORDED_EXEC]
        assert unrecorded["certainty"] == CERTAIN and "appears nowhere in the trail" in str(
            unrecorded["summary"]
        )
    assert found[fexecd][kinds.UNRECORDED_EXEC]["details"]["exe"] == str(hidden)  # type: ignore[index]
    assert found[memfd][kinds.SUSPICIOUS_EXE]["details"]["exe"] == "/memfd:payload"  # type: ignore[index]
    assert kinds.UNRECORDED_EXEC not in found_after.get(recorded, {})  # execveat now has a rule
