"""SIGTERM says so: ``exectrail: terminated``, exit 143 (128 + 15), no traceback, nothing half-done.

The commands read a log from a pipe the test keeps open, so they are surely in the middle of the
work when the signal comes: once the test's write of more than a pipe buffer returns, exectrail
has been reading. (``watch`` stops cleanly on SIGTERM by design: see tests/kernel.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from tests.support.cli_logs import hostile_lines

EXECTRAIL = [sys.executable, "-m", "exectrail.cli.main"]
EXIT_TERMINATED = 143


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        if int(stat[stat.rfind(b")") + 2 :].split()[1]) == pid:
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b")")[-1].split()[0] != b"Z"
    except OSError:
        return False


def terminate_mid_read(
    args: list[str], fifo: Path | None = None
) -> tuple[subprocess.Popen[bytes], bytes, set[int]]:
    """Start ``args`` reading stdin (or ``fifo``), feed it ~1 MB (it is reading when the write
    returns), SIGTERM it while the pipe is still open; return the process, its stderr and its
    children at that time."""
    data = b"".join(hostile_lines(events=1500))
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    feed = proc.stdin if fifo is None else _fifo_reader_that_stays(fifo, data)
    try:
        if fifo is None:
            feed.write(data)
            feed.flush()
        time.sleep(0.3)  # let it reach the blocking read for more
        helpers = children_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        feed.close()
        proc.stdin.close()
        proc.stderr.close()
    return proc, err, helpers


def _fifo_reader_that_stays(fifo: Path, data: bytes) -> BinaryIO:
    """The FIFO opened for writing, with all of ``data`` in it once exectrail reads it for real (an
    earlier open may only look at its first bytes: writing to that one ends in EPIPE, and the whole
    of ``data`` is written again to the next)."""
    for _ in range(10):
        feed = open(fifo, "wb")  # noqa: SIM115 - blocks until exectrail opens it; closed by the caller
        try:
            feed.write(data)  # more than a pipe holds: returns once the reader has taken most of it
            feed.flush()
            return feed
        except BrokenPipeError:
            feed.close()
    raise AssertionError("exectrail never kept the named pipe open")


def assert_terminated(proc: subprocess.Popen[bytes], err: bytes) -> None:
    assert proc.returncode == EXIT_TERMINATED, err
    assert err.endswith(b"exectrail: terminated\n"), err
    assert b"Traceback" not in err and b"internal error" not in err


def test_review_of_a_stream() -> None:
    proc, err, _ = terminate_mid_read([*EXECTRAIL, "review", "--format", "jsonl", "-"])
    assert_terminated(proc, err)


def test_import_leaves_an_intact_store_and_no_helper(tmp_path: Path) -> None:
    """import of a named pipe: its reader helper (a forked process) goes with it."""
    db, fifo = tmp_path / "events.db", tmp_path / "audit.log"
    os.mkfifo(fifo)
    proc, err, helpers = terminate_mid_read(
        [*EXECTRAIL, "import", "--no-alarms", "--db", str(db), str(fifo)], fifo
    )
    assert_terminated(proc, err)
    assert helpers, "the reader helper was not running"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in helpers), helpers
    verified = subprocess.run([*EXECTRAIL, "verify", "--db", str(db)], capture_output=True, timeout=60)
    assert verified.returncode == 0 and verified.stdout.startswith(b"intact: "), verified


def test_import_of_a_stream(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    proc, err, _ = terminate_mid_read([*EXECTRAIL, "import", "--db", str(db), "-"])
    assert_terminated(proc, err)
    verified = subprocess.run([*EXECTRAIL, "verify", "--db", str(db)], capture_output=True, timeout=60)
    assert verified.returncode == 0 and verified.stdout.startswith(b"intact: "), verified


def test_watch_in_plugin_mode_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """auditd stops its plugins with SIGTERM: watch says so in its summary and exits 0 with every
    event written (it aborted with "Fatal Python error … <stdin>", status 134, before)."""
    output = tmp_path / "out" / "exec.jsonl"
    args = [*EXECTRAIL, "watch", "--mode", "plugin", "--no-store", "--output", str(output)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        proc.stdin.write(b"".join(hostile_lines(events=3)))
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not output.exists() or output.read_bytes().count(b"\n") < 5):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        proc.stdin.close()
        proc.stderr.close()
    assert proc.returncode == 0, err
    assert b"exectrail: watch stopped (SIGTERM)" in err and b"Fatal" not in err and b"Traceback" not in err
    assert output.read_bytes().count(b'"type":"exec"') == 4
