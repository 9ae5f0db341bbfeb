"""procparent: a process read from /proc (this one, a child whose file was deleted, a zombie, one
gone), its start time as exectrail's process table counts it, bounded reads that follow nothing
planted, and ``stat`` lines parsed as hostile (hypothesis)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from exectrail.enrich.procparent import (
    ProcParent,
    process_start_ms,
    read_bounded,
    read_proc_parent,
    split_argv,
)
from exectrail.kernel.procfs import boot_time_ms, parse_stat, read_proc
from tests.support.procwait import in_thread, wait_exec

SLEEP = shutil.which("sleep") or "/bin/sleep"
HZ = os.sysconf("SC_CLK_TCK")


def test_this_process_as_the_process_table_sees_it() -> None:
    boot_ms = boot_time_ms()
    me = read_proc_parent(os.getpid(), boot_ms=boot_ms)
    table = read_proc(os.getpid(), boot_ms, HZ)
    assert me is not None and table is not None
    assert me == ProcParent(
        os.getpid(), os.path.realpath(sys.executable), tuple(map(os.fsencode, sys.orig_argv)), table.start_ms
    )
    assert process_start_ms(os.getpid(), boot_ms=boot_ms) == table.start_ms
    assert abs((process_start_ms(os.getpid()) or 0) - table.start_ms) <= 1  # its own boot time, rounded
    assert table.start_ms <= time.time() * 1000


def test_a_child_whose_file_was_deleted(tmp_path: Path) -> None:
    copy = tmp_path / "sleep copy"
    shutil.copy2(SLEEP, copy)
    proc = subprocess.Popen([b"sl\xffeep", "60"], executable=copy)  # argv[0] not UTF-8
    try:
        wait_exec(proc.pid)
        copy.unlink()
        found = read_proc_parent(proc.pid)
        assert found is not None and found.exe == str(copy) and found.deleted
        assert found.argv == (b"sl\xffeep", b"60")
        me = process_start_ms(os.getpid())
        assert found.start_ms is not None and me is not None and found.start_ms >= me
    finally:
        proc.kill()
        proc.wait()


def test_a_zombie_has_no_exe_nor_argv_and_a_reaped_one_is_none() -> None:
    proc = subprocess.Popen([SLEEP, "60"])
    wait_exec(proc.pid)
    started = process_start_ms(proc.pid)
    proc.kill()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    assert read_proc_parent(proc.pid) == ProcParent(proc.pid, None, None, started)
    proc.wait()
    assert read_proc_parent(proc.pid) is None and process_start_ms(proc.pid) is None
    assert read_proc_parent(0) is None and process_start_ms(-1) is None
    assert read_proc_parent(os.getpid(), proc="/nonexistent") is None


def test_bounded_reads_follow_nothing_planted(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 10_000)
    assert read_bounded(str(tmp_path / "big"), 4096) == b"x" * 4096
    assert read_bounded(str(tmp_path / "big"), 20_000) == b"x" * 10_000
    (tmp_path / "link").symlink_to(tmp_path / "big")
    assert read_bounded(str(tmp_path / "link"), 100) == "unreadable"
    assert read_bounded(str(tmp_path / "absent"), 100) == "gone"
    os.mkfifo(tmp_path / "fifo")
    assert in_thread(lambda: read_bounded(str(tmp_path / "fifo"), 100)) in (b"", "unreadable")
    # a planted /proc: the pid directory a link, stat garbage, exe a link to a FIFO
    proc = tmp_path / "proc"
    (proc / "5").mkdir(parents=True)
    (proc / "6").symlink_to(proc / "5")
    (proc / "5" / "stat").write_bytes(b"5 (x) R not numbers")
    (proc / "5" / "exe").symlink_to(tmp_path / "fifo")
    (proc / "5" / "cmdline").write_bytes(b"a\0b\0")
    assert read_proc_parent(6, proc=str(proc)) is None
    assert in_thread(lambda: read_proc_parent(5, proc=str(proc))) == ProcParent(
        5, str(tmp_path / "fifo"), (b"a", b"b"), None
    )
    assert process_start_ms(5, proc=str(proc)) is None


def test_stat_lines_with_a_hostile_comm() -> None:
    tail = b" S 42 7 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 100 0 0"
    assert parse_stat(b"99 (a) b) (c)" + tail, 1000) == ("S", 42, 1000 + 12345 * 1000 // HZ)
    assert parse_stat(b"99 (x\ny)" + tail, 0) == ("S", 42, 12345 * 1000 // HZ)
    assert parse_stat(b"99 (x)" + tail.replace(b" 12345 ", b" -1 "), 0) is None
    assert parse_stat(b"99 (x) SS 1" + tail[4:], 0) is None
    assert parse_stat(b"", 0) is None


@given(st.binary(max_size=400), st.integers(0, 2**45))
def test_parse_stat_never_raises(text: bytes, boot_ms: int) -> None:
    parsed = parse_stat(text, boot_ms)
    assert parsed is None or (len(parsed[0]) == 1 and parsed[1] >= 0 and parsed[2] >= boot_ms)


def test_split_argv() -> None:
    assert split_argv(b"") is None
    assert split_argv(b"a\0") == (b"a",)
    assert split_argv(b"a\0\0b\0") == (b"a", b"", b"b")
    assert split_argv(b"setproctitle: no NUL") == (b"setproctitle: no NUL",)
