"""Finding the alarms of audit logs in a helper process, beside a command that reads the same logs
for something else (``exectrail import`` parses and stores the events in its own pipeline).

:class:`AlarmScan` forks a process that runs :func:`~exectrail.interference.source.scan_logs` and
sends back the alarms; :meth:`AlarmScan.result` waits for them. Where ``fork`` is unavailable the
scan runs in this process when the result is asked for, with the same results.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from exectrail.errors import ExectrailError
from exectrail.interference.source import scan_logs
from exectrail.interference.trail import Settings
from exectrail.lifeline import start_helper
from exectrail.model import Alarm


def _scan(paths: Sequence[str], settings: Settings) -> list[Alarm]:
    alarms, _events, _audit = scan_logs(paths, settings)
    return alarms


def _child(paths: Sequence[str], settings: Settings, conn: Connection, parent: int) -> None:
    start_helper(parent)  # a kill -9 of `import` must not leave this scan running
    try:
        conn.send(("alarms", _scan(paths, settings)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class AlarmScan:
    """The alarms of ``paths`` (sorted by time), found in a helper process."""

    def __init__(
        self, paths: Sequence[str], settings: Settings | None = None, background: bool = True
    ) -> None:
        self.paths = list(paths)
        self.settings = settings or Settings()
        self._process: Any = None
        self._conn: Connection | None = None
        if background and "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            receive, send = ctx.Pipe(duplex=False)
            self._process = ctx.Process(
                target=_child, args=(self.paths, self.settings, send, os.getpid()), daemon=True
            )
            self._process.start()
            send.close()
            self._conn = receive

    def result(self) -> list[Alarm]:
        """Wait for the alarms; a failed scan raises a one-line :class:`ExectrailError`."""
        if self._conn is None:
            return _scan(self.paths, self.settings)
        try:
            kind, value = self._conn.recv()
        except EOFError:
            raise ExectrailError("looking for alarms failed: the helper process ended unexpectedly") from None
        finally:
            self.close()
        if kind != "alarms":
            raise ExectrailError(f"looking for alarms failed: {value}")
        alarms: list[Alarm] = value
        return alarms

    def close(self) -> None:
        """Stop the helper (if it still runs) and wait for it."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(10)
            self._process = None


__all__ = ["AlarmScan"]
