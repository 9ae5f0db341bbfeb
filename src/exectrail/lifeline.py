"""Helper processes that die with the process that forked them, even when it is SIGKILLed, and end
quietly when it stops them."""

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


def start_helper(parent: int) -> None:
    """First thing in a forked helper: die with ``parent`` (:func:`die_with_parent`), let SIGTERM (the
    parent's ``terminate()``) end it quietly rather than run the handler it inherited (which raises),
    and leave Ctrl-C to the parent, which stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


__all__ = ["die_with_parent", "start_helper"]
