"""Sink state files: each forwarder keeps ``SPOOL_DIR/<sink>/state.json`` current for ``exectrail status``.

:func:`read_sink_status` returns one dict per sink that ever used the spool directory::

    {"sink": "syslog+tcp://10.0.0.5:514", "pid": 1234, "running": true, "updated": "2026-…Z",
     "backlog": 1200,          # events waiting: in memory + in the spool
     "spool_events": 1000, "spool_bytes": 734003, "accepted": …, "delivered": …, "dropped": 0,
     "last_error": "connection refused" | null, "last_error_time": "…Z" | null,
     "last_delivery_time": "…Z" | null}

``running`` is false once the writing process is gone; if it did not close cleanly the spool counts
are re-read from the directory (they are what the next run will replay; a closed forwarder's own
counts leave out the batch files it rejected, see ``spool_rejected``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from exectrail.safefs import UnsafePathError, write_replace

STATE_FILE = "state.json"


def write_state(directory: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically; a failure to write it is not worth stopping delivery."""
    with contextlib.suppress(OSError, UnsafePathError, orjson.JSONEncodeError):  # never stops delivery
        write_replace(directory, STATE_FILE, orjson.dumps(state, option=orjson.OPT_INDENT_2))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a damaged state file's pid
        return False
    except PermissionError:
        return True
    return True


def _spool_counts(directory: Path) -> tuple[int, int]:
    events = size = 0
    for path in directory.glob("*.batch"):
        try:
            events += int(path.stem.rpartition("-")[2])
            size += path.stat().st_size
        except (ValueError, OSError):
            continue
    return events, size


def read_sink_status(spool_dir: str | Path) -> list[dict[str, Any]]:
    """The state of every sink under ``spool_dir`` (empty if there is none), sorted by sink."""
    root = Path(spool_dir)
    out: list[dict[str, Any]] = []
    try:
        dirs = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return out
    for directory in dirs:
        try:
            state = orjson.loads((directory / STATE_FILE).read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(state, dict):
            continue
        state["running"] = _alive(state.get("pid")) and state.get("closed") is not True
        if not state["running"] and state.get("closed") is not True:  # killed: its counts may be old
            state["spool_events"], state["spool_bytes"] = _spool_counts(directory)
            state["backlog"] = state["spool_events"]
        state["spool_path"] = str(directory)
        out.append(state)
    return sorted(out, key=lambda s: str(s.get("sink")))


__all__ = ["STATE_FILE", "read_sink_status", "write_state"]
