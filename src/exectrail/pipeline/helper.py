"""The log-scan path in a helper process: :class:`HelperScan`, for a command that does heavy work of
its own with each event (``import`` writes the store). The helper runs the :class:`LogScan` and
sends ``transform(event)`` in batches; where ``fork`` is unavailable, or when reading stdin,
everything runs in this process, with the same results.

Alarms are found by an :class:`AlarmChecks` (the standard one:
:class:`exectrail.interference.detector.TrailChecks`): it makes the scan's detector in the helper
and, for regular files, starts its line checks -- a second read of every file -- in a second
helper at the same time (:meth:`AlarmChecks.lines_ahead`). Helpers die with this process, even by
SIGKILL (``PR_SET_PDEATHSIG``): :func:`fork_helper` starts them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, Protocol, TypeVar

from exectrail.errors import ExectrailError
from exectrail.kernel.procfs import grow_pipe
from exectrail.lifeline import start_helper
from exectrail.model import Alarm, Diagnostics, ExecEvent
from exectrail.parse.logfile import STDIN, ProgressCallback, ReadStats, rereadable
from exectrail.pipeline.logscan import Detector, LogScan

T = TypeVar("T")

BATCH = 250  # events (transformed) per message from the helper
PIPE_BYTES = 16 << 20  # the helper may run this far ahead (capped by /proc/sys/fs/pipe-max-size)


class LineChecks(Protocol):
    """Line checks running beside a scan (:class:`exectrail.interference.detector.LinesAhead`)."""

    def result(self, files: list[str], diagnostics: Diagnostics) -> list[Alarm]: ...
    def close(self) -> None: ...


class AlarmChecks(Protocol):
    """How a :class:`HelperScan` finds alarms: ``line_checks`` (whether they include the line
    checks, a second read of every file), the :meth:`detector` of a scan (``line_checks`` false:
    without them, they run elsewhere), and the line checks started beside the scan
    (:meth:`lines_ahead`)."""

    @property
    def line_checks(self) -> bool: ...

    def detector(self, line_checks: bool = True) -> Detector: ...
    def lines_ahead(self, paths: list[str]) -> LineChecks: ...


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def can_read_twice(names: list[str]) -> bool:
    """True when a helper can read ``names`` while the scan does: regular files only (a pipe --
    stdin, ``<(zcat …)`` -- gives each byte to one reader), and ``fork`` available."""
    return bool(names) and all(map(rereadable, names)) and _can_fork()


class HelperScan(Generic[T]):
    """``transform(event)`` for the events of ``paths`` (nothing when ``transform`` is None), from a
    :class:`LogScan` run in a helper process; after the iteration: ``diagnostics``, ``stats``,
    ``incomplete`` and :meth:`alarms` (found by ``alarms``; none without). ``progress`` is called
    here with the bytes read."""

    def __init__(
        self,
        paths: list[str],
        transform: Callable[[ExecEvent], T] | None,
        *,
        alarms: AlarmChecks | None = None,
        progress: ProgressCallback | None = None,
        background: bool = True,
        host_id: str | None = None,
    ) -> None:
        self.paths, self.transform, self.progress = list(paths), transform, progress
        self.host_id = host_id
        self.checks = alarms
        self.diagnostics, self.stats, self.incomplete = Diagnostics(), ReadStats(), 0
        self._found: list[Alarm] | str = []  # or what failed
        self._files: list[str] = []
        self._process: Any = None
        self._conn: Connection | None = None
        self._lines: LineChecks | None = None
        # stdin stays here: multiprocessing points a child's stdin at /dev/null
        if background and STDIN not in self.paths and _can_fork():
            ahead = alarms is not None and alarms.line_checks and can_read_twice(self.paths)
            ctx = multiprocessing.get_context("fork")
            receive, send = ctx.Pipe(duplex=False)
            grow_pipe(send.fileno(), PIPE_BYTES)  # so the helper is not held up by our own work
            args = (send, progress is not None, not ahead, os.getpid())
            self._process = fork_helper(self._child, args)
            send.close()
            self._conn = receive
            if alarms is not None and ahead:  # the second read, at the same time in a second helper
                self._lines = alarms.lines_ahead(self.paths)

    def _scan(self, progress: ProgressCallback | None, line_checks: bool) -> LogScan:
        """The scan, with the line checks when ``line_checks`` (and the checks have them)."""
        detector = self.checks.detector(line_checks) if self.checks is not None else None
        return LogScan(self.paths, detector=detector, progress=progress, host_id=self.host_id)

    def __iter__(self) -> Iterator[T]:
        if self._conn is None:
            yield from self._in_process()
            return
        while True:
            try:
                message = self._conn.recv()
            except EOFError:
                raise ExectrailError("the log reader process ended unexpectedly") from None
            kind = message[0]
            if kind == "events":
                yield from message[1]
            elif kind == "progress":
                if self.progress is not None:
                    self.progress(message[1])
            elif kind == "done":
                self.diagnostics, self.stats, self.incomplete, self._found, self._files = message[1:]
                return
            else:
                raise message[1]

    def _in_process(self) -> Iterator[T]:
        scan = self._scan(self.progress, True)
        transform = self.transform
        for event in scan:
            if transform is not None:
                yield transform(event)
        self._found = _finish(scan)
        self.diagnostics, self.stats, self.incomplete = scan.diagnostics, scan.stats, scan.incomplete

    def _child(self, conn: Connection, progress: bool, line_checks: bool, parent: int) -> None:
        helper_started(parent)  # a kill -9 of the command must not leave this reader running
        try:
            self._produce(conn.send, progress, line_checks)
        except BaseException as exc:
            _send_error(conn, exc)
        finally:
            conn.close()

    def _produce(self, send: Callable[[Any], None], progress: bool, line_checks: bool) -> None:
        """Scan; send ("events", [...]) batches, ("progress", n), then ("done", …)."""
        scan = self._scan((lambda n: send(("progress", n))) if progress else None, line_checks)
        transform = self.transform
        batch: list[Any] = []
        for event in scan:
            if transform is not None:
                batch.append(transform(event))
                if len(batch) >= BATCH:
                    send(("events", batch))
                    batch = []
        if batch:
            send(("events", batch))
        send(("done", scan.diagnostics, scan.stats, scan.incomplete, _finish(scan), scan.files))

    def alarms(self) -> list[Alarm]:
        """After the iteration: the alarms of the files, sorted by time (with the line checks'
        when they ran beside the scan)."""
        if isinstance(self._found, str):
            raise ExectrailError(self._found)
        found = list(self._found)
        if self._lines is not None:
            found.extend(self._lines.result(self._files, self.diagnostics))
        found.sort(key=lambda a: a.time)
        return found

    def close(self) -> None:
        """Stop the helpers (if they still run) and wait for them."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(10)
        if self._lines is not None:
            self._lines.close()
            self._lines = None


def _send_error(conn: Connection, exc: BaseException) -> None:
    """Tell the consumer what stopped the helper (in words, when the exception does not pickle)."""
    try:
        conn.send(("error", exc))
    except OSError:
        return  # the consumer is gone (it stops this process)
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", ExectrailError(f"reading failed: {type(exc).__name__}: {exc}")))


def _finish(scan: LogScan) -> list[Alarm] | str:
    """The scan's remaining alarms, or what failed in finding them (the events are all in)."""
    try:
        return scan.finish()
    except Exception as exc:
        return f"looking for alarms failed: {type(exc).__name__}: {exc}"


def fork_helper(target: Callable[..., None], args: tuple[Any, ...]) -> Any:
    """Start ``target(*args)`` in a forked helper process (a daemon) and return it. SIGTERM waits
    until the helper has called :func:`helper_started`: a helper stopped at once must not run the
    handler it inherited (the CLI's raises, and a traceback would be printed)."""
    process = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return process


def helper_started(parent: int) -> None:
    """First thing in a helper of :func:`fork_helper`: die with ``parent``, end quietly on SIGTERM
    (:func:`~exectrail.lifeline.start_helper`), and only then take the SIGTERM held back."""
    start_helper(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


__all__ = ["AlarmChecks", "HelperScan", "LineChecks", "can_read_twice", "fork_helper", "helper_started"]
