"""Waiting on real processes in the /proc tests: an exec to complete, a call that must not block."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

R = TypeVar("R")


def wait_exec(pid: int, exe: str | None = None) -> None:
    """Until the exec (of ``exe``, when given) is complete. Popen returns when the close-on-exec
    descriptors are closed, a little before the kernel has set the new command line and environment
    (``environ`` reads empty meanwhile); the audit records come after the exec, so live capture never
    reads that early."""
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{pid}/cmdline").read_bytes() or (exe and os.readlink(f"/proc/{pid}/exe") != exe):
        assert time.monotonic() < deadline, "the exec never completed"
        time.sleep(0.001)


def in_thread(call: Callable[[], R], timeout: float = 5.0) -> R:
    """``call()``, failing the test instead of hanging when it blocks (a daemon thread)."""
    results: list[R] = []
    worker = threading.Thread(target=lambda: results.append(call()), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "blocked"
    return results[0]
