"""`exectrail watch` whose reader goes away (``watch | head -1``): it ends quietly with 141, like
every other command, and still puts the kernel back (rules, enabled, backlog, audit pid)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.kernel import EXECTRAIL, LIVE, Kernel, observe

pytestmark = pytest.mark.kernel

EXIT_BROKEN_PIPE = 141


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_watch_into_a_closed_pipe(kernel: Kernel, tmp_path: Path, fmt: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "EXECTRAIL_STATE_DIR": str(tmp_path / "state")}
    args = [*EXECTRAIL, "watch", "--mode", "daemon", "--no-store", "--format", fmt]
    proc = subprocess.Popen(args, stdout=write_end, stderr=subprocess.PIPE, env=env)
    LIVE.append(proc)
    os.close(write_end)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        subprocess.run(["/bin/true"], check=True)  # events to write, so that the write fails
        time.sleep(0.2)
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    assert "Traceback" not in err and "internal error" not in err and "error" not in err.lower(), err
    assert observe() == kernel.before
    assert not list((tmp_path / "state").glob("watch.*.json"))  # a clean exit leaves no journal
