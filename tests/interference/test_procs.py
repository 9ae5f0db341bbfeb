"""check-procs logic on made-up process tables (the kernel test runs it against /proc for real)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from exectrail.interference import kinds
from exectrail.interference.procs import ExecIndex, check_processes
from exectrail.kernel.procfs import Proc, ancestors, boot_time_ms, pid_alive, read_proc, running_processes
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm

T = 1_795_600_000_000


def table(*procs: Proc) -> dict[int, Proc]:
    return {p.pid: p for p in procs}


INIT = Proc(1, 0, T - 10_000_000, "/usr/lib/systemd/systemd", False, "systemd")
SHELL = Proc(100, 1, T - 1000, "/usr/bin/bash", False, "bash")


def index(*events: tuple[int, str, int]) -> ExecIndex:
    built = ExecIndex()
    for pid, exe, when in events:
        built.add(pid, exe, when)
    return built


def _pid(alarm: Alarm) -> int:
    pid = alarm.details["pid"]
    assert isinstance(pid, int), alarm
    return pid


def test_exec_in_the_trail_is_fine() -> None:
    child = Proc(101, 100, T + 5000, "/usr/bin/sleep", False, "sleep")
    result = check_processes(
        table(INIT, SHELL, child), index((100, "/usr/bin/bash", T), (101, "/usr/bin/sleep", T + 5010))
    )
    assert result.alarms == [] and result.matched == 1 and result.checked == 1 and result.before == 2


def test_fork_without_exec_is_fine() -> None:
    worker = Proc(102, 100, T + 6000, "/usr/bin/bash", False, "bash")
    result = check_processes(
        table(INIT, SHELL, worker), index((100, "/usr/bin/bash", T), (5, "/usr/bin/x", T + 9000))
    )
    assert result.alarms == [] and result.forks == 1


def test_daemon_forked_twice_from_a_recorded_exec_is_fine() -> None:
    daemon = Proc(300, 1, T + 7000, "/usr/sbin/food", False, "food")  # its exec'd parent has exited
    result = check_processes(
        table(INIT, SHELL, daemon), index((100, "/usr/bin/bash", T), (299, "/usr/sbin/food", T + 6900))
    )
    assert result.alarms == []


def test_unrecorded_exec_certain_and_suspicious() -> None:
    hidden = Proc(400, 100, T + 8000, "/tmp/x/implant", False, "implant")
    copied = Proc(401, 100, T + 8000, "/usr/bin/sleep", False, "sleep")
    other = Proc(402, 1, T + 100, "/usr/bin/sleep", False, "sleep")  # alive: not an ancestor of 401
    trail = index((100, "/usr/bin/bash", T), (402, "/usr/bin/sleep", T + 150), (9, "/usr/bin/true", T + 9000))
    result = check_processes(table(INIT, SHELL, hidden, copied, other), trail)
    unrecorded = {a.details["pid"]: a for a in result.alarms if a.kind == kinds.UNRECORDED_EXEC}
    assert unrecorded[400].certainty == CERTAIN and unrecorded[401].certainty == SUSPICIOUS
    odd = [a for a in result.alarms if a.kind == kinds.SUSPICIOUS_EXE]
    assert [a.details["pid"] for a in odd] == [400]


def test_outside_the_trail_is_not_judged() -> None:
    early = Proc(500, 1, T - 5000, "/usr/bin/python3", False, "python3")
    late = Proc(501, 1, T + 60_000, "/usr/bin/python3", False, "python3")
    result = check_processes(
        table(INIT, early, late), index((7, "/usr/bin/true", T), (8, "/usr/bin/true", T + 9000))
    )
    assert result.alarms == [] and result.before == 2 and result.after == 1


def test_deleted_and_memfd_executables() -> None:
    deleted = Proc(600, 1, T - 5000, "/usr/sbin/sshd", True, "sshd")
    memfd = Proc(601, 1, T - 5000, "/memfd:payload", True, "payload")
    shm = Proc(602, 1, T - 5000, "/dev/shm/.x", False, ".x")
    result = check_processes(table(INIT, deleted, memfd, shm), ExecIndex())
    assert sorted(_pid(a) for a in result.alarms) == [600, 601, 602]
    assert {a.kind for a in result.alarms} == {kinds.SUSPICIOUS_EXE}


def test_reads_this_process_from_proc() -> None:
    procs = running_processes()
    me = procs[os.getpid()]
    assert me.exe == os.path.realpath("/proc/self/exe") and me.ppid == os.getppid()
    assert 1 not in procs or procs[1].exe


def test_ancestors_of_this_process() -> None:
    """The real /proc: this process and its parent, never init."""
    found = ancestors(os.getpid())
    assert {os.getpid(), os.getppid()} <= found
    assert 1 not in found


def _stat(proc: Path, pid: int, comm: str, ppid: int | str) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0 -1\n")


def test_ancestors_read_past_a_hostile_name_and_stop_at_a_loop(tmp_path: Path) -> None:
    """A process may name itself ``x) R 1``; a damaged or looping stat ends the walk, not the command."""
    _stat(tmp_path, 30, "x) R 1 (", 20)
    _stat(tmp_path, 20, "sh", 10)
    _stat(tmp_path, 10, "loop", 20)
    assert ancestors(30, str(tmp_path)) == {30, 20, 10}
    _stat(tmp_path, 40, "bad", "not-a-pid")
    assert ancestors(40, str(tmp_path)) == {40}
    assert ancestors(50, str(tmp_path)) == {50}  # gone


def test_pid_alive_tells_a_zombie_from_a_running_process() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: a zombie
        assert not pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
    assert not pid_alive(0)


def test_boot_time_places_a_new_process_at_its_start() -> None:
    """The start time derived from boot_time_ms and /proc/PID/stat is the wall time around the fork
    (to the 10 ms clock tick), and boot_time_ms agrees with /proc/stat's whole-second btime."""
    stat = Path("/proc/stat").read_text().splitlines()
    btime = next(int(line.split()[1]) for line in stat if line.startswith("btime "))
    assert abs(boot_time_ms() - btime * 1000) < 1500
    before = time.time()
    child = subprocess.Popen(["sleep", "30"])
    after = time.time()
    try:
        found = read_proc(child.pid, boot_time_ms(), os.sysconf("SC_CLK_TCK"))
        assert found is not None
        assert before * 1000 - 20 <= found.start_ms <= after * 1000 + 20
    finally:
        child.kill()
        child.wait()
