"""The alarm detector of the log-scan path (:mod:`exectrail.pipeline`): the record auditor
(:mod:`~exectrail.interference.trail`) and the line checks (:mod:`~exectrail.interference.lines`)
behind the pipeline's :class:`~exectrail.pipeline.Detector` protocol, and the scan with it.

The scan reads the files and hands :class:`LogAudit` their records and closed events; this module
opens no file itself except for the line checks, a second read of each file by design (``exectrail
alarms --no-line-checks`` skips it), which runs in a helper process beside the scan
(:class:`LinesAhead`) where it can.

* :func:`scan_logs` (``exectrail.scan_logs``) -- the events and the alarms of log files, with
  ``on_event`` and ``on_alarm`` hooks (writers, the store, sinks); returns a
  :class:`~exectrail.pipeline.ScanResult`.
* :func:`alarm_detector` -- the standard detector for a :class:`~exectrail.pipeline.LogScan`;
  :class:`TrailChecks` makes it for a :class:`~exectrail.pipeline.HelperScan`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from exectrail.errors import ExectrailError
from exectrail.interference.lines import BadLine, check_lines
from exectrail.interference.trail import Settings, TrailAuditor
from exectrail.model import Alarm, Diagnostics, ExecEvent
from exectrail.parse.logfile import STDIN, ProgressCallback, ReadStats, rereadable
from exectrail.pipeline import (
    Detector,
    LogScan,
    ScanResult,
    can_read_twice,
    fork_helper,
    helper_started,
)

MAX_BAD_LINES = 10_000
#: reader diagnostics for lines that auditd cannot have written (quoted by the line checks)
LINE_KINDS = frozenset({"malformed-line", "out-of-range", "line-too-long", "malformed-message"})


class AlarmDiagnostics(Diagnostics):
    """Diagnostics that also remember every rejected line's ``file:line`` (up to a cap)."""

    def __init__(self, keep: int = 50) -> None:
        super().__init__(keep=keep)
        self.bad_lines: dict[str, list[BadLine]] = {}
        self._bad = 0

    def add(self, kind: str, reason: str, origin: str | None = None) -> None:
        super().add(kind, reason, origin)
        if kind in LINE_KINDS and origin and self._bad < MAX_BAD_LINES:
            name, _, line = origin.rpartition(":")
            if line.isdigit():
                self.bad_lines.setdefault(name, []).append(BadLine(int(line), kind, reason))
                self._bad += 1


class LogAudit:
    """The standard :class:`~exectrail.pipeline.Detector`: a :class:`TrailAuditor` fed by the scan,
    the diagnostics it watches for rejected lines, and (``line_checks``) the line checks of the
    files read, after the last event (or, ``ahead``, beside the scan in a helper process)."""

    def __init__(
        self, settings: Settings | None = None, line_checks: bool = True, ahead: LinesAhead | None = None
    ) -> None:
        self.settings = settings or Settings()
        self.line_checks = line_checks
        self.ahead = ahead  # the line checks, started beside the scan
        self.diagnostics = AlarmDiagnostics()
        self.auditor = TrailAuditor(self.settings)
        self.begin_file = self.auditor.begin_file
        self.record = self.auditor.record
        self.group = self.auditor.group
        self.end_input = self.auditor.end_input

    def take(self) -> list[Alarm]:
        """Alarms found so far and not yet taken (cheap when none)."""
        return self.auditor.take() if self.auditor.pending else []

    def finish(self, files: list[str]) -> list[Alarm]:
        """After the last event: close open spans, check the lines of every file; the remaining alarms."""
        alarms = self.auditor.finish()
        if self.line_checks and self.ahead is not None:
            alarms.extend(self.ahead.result(files, self.diagnostics))
        elif self.line_checks:
            for path in files:
                if rereadable(path):  # stdin and pipes were read once, by the scan
                    alarms.extend(check_lines(path, self.diagnostics.bad_lines.get(path)))
        return alarms

    def close(self) -> None:
        """Stop the line checks' helper, if one was started and still runs."""
        if self.ahead is not None:
            self.ahead.close()

    def monitoring_since_ms(self) -> int | None:
        """When exec events began to be recorded (see :meth:`TrailAuditor.monitoring_since_ms`)."""
        return self.auditor.monitoring_since_ms()


# -- the line checks beside a scan in a helper process -------------------------------------------
def _check_ahead(paths: list[str], conn: Connection, parent: int) -> None:
    """Check every file's lines as if the reader rejected none (what it finds in an undamaged file);
    then wait for the files the scan read and their rejected lines, and send the alarms."""
    helper_started(parent)  # a kill -9 of the command must not leave this helper running
    with contextlib.suppress(OSError):
        os.nice(10)  # its result is wanted only after the scan: let the scan and its consumer go first
    try:
        ahead: dict[str, list[Alarm] | BaseException] = {}
        for path in dict.fromkeys(paths):
            if path != STDIN:
                try:
                    ahead[path] = check_lines(path)
                except Exception as exc:  # raised only if the scan read this file
                    ahead[path] = exc
        try:
            files, bad_lines = conn.recv()
        except EOFError:  # the scan ended without needing them (stopped, or failed)
            return
        alarms: list[Alarm] = []
        for path in files:
            if path == STDIN:
                continue
            bad = bad_lines.get(path)
            done = ahead.get(path)
            if bad or done is None:
                alarms.extend(check_lines(path, bad))
            elif isinstance(done, BaseException):
                raise done
            else:
                alarms.extend(done)
        conn.send(("alarms", alarms))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class LinesAhead:
    """The line checks of ``paths`` in a helper process started now (before the scan's results)."""

    def __init__(self, paths: list[str]) -> None:
        self._conn, theirs = multiprocessing.get_context("fork").Pipe(duplex=True)
        self._process: Any = fork_helper(_check_ahead, (list(paths), theirs, os.getpid()))
        theirs.close()

    def result(self, files: list[str], diagnostics: Diagnostics) -> list[Alarm]:
        """The line alarms of ``files`` (the files the scan read), in their order."""
        bad_lines = diagnostics.bad_lines if isinstance(diagnostics, AlarmDiagnostics) else {}
        try:
            self._conn.send((files, bad_lines))
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            raise ExectrailError("looking for alarms failed: the helper process ended unexpectedly") from None
        if kind != "alarms":
            raise ExectrailError(f"looking for alarms failed: {value}")
        alarms: list[Alarm] = value
        return alarms

    def close(self) -> None:
        """Stop the helper (if it still runs) and wait for it."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(10)
        self._conn.close()


# -- the scan with the standard detector ----------------------------------------------------------
def alarm_detector(
    settings: Settings | None = None, line_checks: bool = True, ahead: Iterable[str | Path] | None = None
) -> LogAudit:
    """The standard alarm detector (``exectrail alarms``): record checks, and line checks unless
    ``line_checks`` is false (they read each file a second time). ``ahead``: the files to be
    scanned, whose line checks then start now in a helper process, beside the scan (where ``fork``
    is available and stdin is not among them); :meth:`~exectrail.pipeline.LogScan.close` stops it."""
    names = [str(p) for p in ahead] if ahead is not None and line_checks else []
    helper = LinesAhead(names) if can_read_twice(names) else None
    return LogAudit(settings, line_checks=line_checks, ahead=helper)


@dataclass(frozen=True)
class TrailChecks:
    """The standard alarm checks of a :class:`~exectrail.pipeline.HelperScan` (its
    :class:`~exectrail.pipeline.AlarmChecks`): the record checks with ``settings`` and, unless
    ``line_checks`` is false, the line checks."""

    settings: Settings | None = None
    line_checks: bool = True

    def detector(self, line_checks: bool = True) -> LogAudit:
        """:func:`alarm_detector` (without the line checks when ``line_checks`` is false)."""
        return alarm_detector(self.settings, self.line_checks and line_checks)

    def lines_ahead(self, paths: list[str]) -> LinesAhead:
        """The line checks of ``paths``, started now in a helper process."""
        return LinesAhead(paths)


def scan_logs(
    paths: Iterable[str | Path],
    settings: Settings | None = None,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
    keep_events: bool = False,
    line_checks: bool = True,
    *,
    alarms: bool | Detector = True,
    on_event: Callable[[ExecEvent], None] | None = None,
    on_alarm: Callable[[Alarm], None] | None = None,
) -> ScanResult:
    """Read ``paths`` once: every exec event to ``on_event`` as it completes, every alarm to
    ``on_alarm`` as it is found (in the order found); return them (alarms sorted by time).

    ``alarms``: True for the standard detector (``settings``, ``line_checks``: see
    :func:`alarm_detector`; the line checks run beside the scan), False for none, or a
    :class:`~exectrail.pipeline.Detector`."""
    names = [str(p) for p in paths]
    detector = alarm_detector(settings, line_checks, names) if alarms is True else alarms or None
    scan = LogScan(names, detector=detector, stats=stats, progress=progress)
    return scan.run(keep_events, on_event, on_alarm)


__all__ = ["AlarmDiagnostics", "LinesAhead", "LogAudit", "TrailChecks", "alarm_detector", "scan_logs"]
