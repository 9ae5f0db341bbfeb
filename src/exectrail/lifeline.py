"""Helper processes that die with the process that forked them, even when it is SIGKILLed."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """In a forked child: have the kernel SIGKILL this process when ``parent`` ends
    (``PR_SET_PDEATHSIG``), and exit at once if it already has (it died right after the fork)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


__all__ = ["die_with_parent"]
