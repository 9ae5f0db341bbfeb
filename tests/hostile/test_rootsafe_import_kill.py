"""kill -9 of a real ``exectrail import`` leaves no process behind (issue 11, item 3): its log reader
and its alarm scan (forked helpers) die with it instead of blocking on a pipe forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import pytest

from exectrail.interference.detector import TrailChecks
from exectrail.pipeline import HelperScan
from exectrail.store.ingest import LogReader
from tests.support.biglog import write_big_log


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (read from /proc, so no CONFIG_PROC_CHILDREN needed)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(entry))
    return out


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a reaped or dead-but-unreaped child is gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_kill_9_of_import_takes_its_helpers_with_it(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    write_big_log(log, 300_000)  # ~117 MB: both helpers have seconds of work left when the kill comes
    cmd = [sys.executable, "-m", "exectrail.cli.main", "import", "--db", str(tmp_path / "s.db"), str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    helpers: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(helpers := children(proc.pid)) < 2:
            assert proc.poll() is None, "import ended before it could be killed"
            assert time.monotonic() < deadline, f"import started {len(helpers)} of its 2 helpers"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the work: reading, parsing, sending
        assert proc.poll() is None and all(running(pid) for pid in helpers)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while alive := [pid for pid in helpers if running(pid)]:
            assert time.monotonic() < deadline, f"helpers {alive} outlived the killed import"
            time.sleep(0.05)
    finally:
        for pid in [proc.pid, *helpers]:  # never leave one behind, even when the test fails
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


class Stop(Exception):
    """What the CLI's SIGTERM handler raises (cli.common.raise_on_sigterm)."""


def raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


@pytest.mark.parametrize("helper", ["reader", "alarm-scan"])
def test_a_helper_stopped_before_its_end_goes_quietly(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], helper: str
) -> None:
    """``close()`` terminates a helper still at work: it must die of the SIGTERM, not run the
    handler it inherited from the CLI (which raises) and print a traceback."""
    log = tmp_path / "big.log"
    write_big_log(log, 60_000)
    saved = signal.signal(signal.SIGTERM, raise_stop)
    try:
        if helper == "reader":
            reader = LogReader([str(log)])
            next(iter(reader))  # the helper has started and has most of the log ahead
            process = reader._process
            reader.close()
        else:
            scan: HelperScan[None] = HelperScan([str(log)], None, alarms=TrailChecks())
            time.sleep(0.3)
            process = scan._process
            scan.close()
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert process.exitcode == -signal.SIGTERM
    assert "Traceback" not in capfd.readouterr().err
