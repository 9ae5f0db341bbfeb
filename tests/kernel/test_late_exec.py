"""A live exec whose records arrive late is assembled whole.

A child is held by ptrace at PTRACE_EVENT_EXEC, inside execve (``late_exec.c``): the kernel takes
the event's time at syscall entry but writes its records only when the syscall returns, seconds
later, after records of newer events. ``watch`` must still show that exec with its full argv and
cwd (an assembler that closed events by their own timestamp lost it: one
``execve-without-syscall`` diagnostic and no event).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.kernel import Kernel, refuse
from tests.support.live import WatchProcess
from tests.support.paths import LATE_EXEC_C

pytestmark = pytest.mark.kernel

HOLD_MS = 3500


@pytest.fixture
def late_exec(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        refuse("needs gcc to build the ptrace helper")
    binary = tmp_path / "late_exec"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(binary), str(LATE_EXEC_C)], check=True)
    return binary


def test_exec_held_inside_execve_is_assembled_whole(kernel: Kernel, tmp_path: Path, late_exec: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    watch.sync()
    cwd = tmp_path / "held here"
    cwd.mkdir()
    marker = f"late-exec-{uuid.uuid4().hex}"
    argv = ["/usr/bin/true", marker, "two words", "x" * 300]
    helper = subprocess.Popen(
        [str(late_exec), str(HOLD_MS), *argv], cwd=cwd, stdout=subprocess.PIPE, text=True
    )
    assert helper.stdout is not None
    held = helper.stdout.readline().split()
    assert held[:1] == ["stopped"], held
    for n in range(3):  # newer events reach watch while the exec is held
        subprocess.run(["/usr/bin/true", f"meanwhile-{n}"], check=True)
    assert helper.wait(timeout=30) == 0
    watch.sync()
    assert watch.stop() == 0
    summary = "".join(watch.stderr)
    mine = [e for e in watch.events() if (e.get("argv") or [])[:2] == argv[:2]]
    assert len(mine) == 1, summary
    event = mine[0]
    assert (event["argv"], event["cwd"], event["pid"]) == (argv, str(cwd), int(held[1]))
    assert (event["success"], event["path"], event["syscall"]) == (True, "/usr/bin/true", "execve")
    assert event.get("incomplete") is False
    assert "execve-without-syscall" not in summary and "Traceback" not in summary
    events = watch.events()
    meanwhile = [i for i, e in enumerate(events) if any("meanwhile-" in a for a in e.get("argv") or [])]
    assert len(meanwhile) == 3
    # stamped no later than they were (the clock is coarse), yet its records came after theirs
    assert all(events[i]["time"] >= event["time"] for i in meanwhile)
    assert max(meanwhile) < events.index(event)
