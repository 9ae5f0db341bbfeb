"""One lock for every test (and capture script) that touches the kernel audit subsystem.

The audit subsystem is shared by the whole machine: tests that change rules, the audit pid or
the status must never run at the same time (pytest-xdist workers, two developers' runs, a
benchmark). ``kernel_lock()`` is an exclusive ``flock`` on a file in /run/lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

LOCK_PATH = os.environ.get("EXECTRAIL_KERNEL_LOCK", "/run/lock/exectrail-kernel.lock")


@contextmanager
def kernel_lock() -> Iterator[None]:
    """Hold the machine-wide kernel-audit lock for the duration of the block."""
    os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
