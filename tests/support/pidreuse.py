"""Synthetic pid reuse made from one real event: copies with another time, pid, ppid and argv, and
the filler execs that bring the kernel's pid counter round (the tree tests' material)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from exectrail.model import ExecEvent

#: pids handed out while the counter comes round past 500-502
FILLER = [pid for pid in range(300, 560) if pid not in (500, 501, 502)]


def shifted(base: ExecEvent, seconds: float, pid: int, ppid: int, argv: bytes) -> ExecEvent:
    """``base`` ``seconds`` later (serial moved on alike) as a successful exec of ``pid``."""
    when, serial = base.time + timedelta(seconds=seconds), base.serial + int(seconds * 1000)
    return replace(base, time=when, serial=serial, pid=pid, ppid=ppid, argv=(argv,), success=True, exit=0)
