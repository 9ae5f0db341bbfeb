"""The log-scan path: audit log files → records → exec events, and alarms, in one pass.

Every command that reads logs takes this path -- ``review``, ``import``, ``alarms``,
``check-procs`` -- and live sources (netlink, the audisp plugin) take its records → events part,
:class:`EventBuilder`.

* :func:`read_events` -- the exec events of log files, nothing else: the simple library entry.
* :func:`scan_logs` -- the events and the alarms of log files, with ``on_event`` and ``on_alarm``
  hooks (writers, the store, sinks); returns a :class:`ScanResult`.
* :class:`LogScan` -- the path itself, an iterator of exec events. Files are read one at a time
  (a block of lines at a time); each record goes to the alarm detector (when there is one) and
  then to the assembler; each closed event (all its records) to the detector again. After (or
  during) the iteration: ``diagnostics``, ``stats``, ``incomplete``, :meth:`LogScan.take` (alarms
  found so far) and :meth:`LogScan.finish` (the rest).
* :class:`HelperScan` -- the same scan in a helper process, for a command that does heavy work of
  its own with each event (``import`` writes the store): the helper runs the :class:`LogScan` and
  sends ``transform(event)`` in batches. Where ``fork`` is unavailable, or when reading stdin,
  everything runs in this process, with the same results.

The line checks (:mod:`exectrail.interference.lines`) read every file a second time; for regular
files they run in a helper process beside the scan (``alarm_detector(ahead=paths)`` for a
:class:`LogScan`; always in a :class:`HelperScan`), as if the reader rejected no line, and are done
again for a file where it did. Helpers die with this
process, even by SIGKILL (``PR_SET_PDEATHSIG``).

The alarm detector is anything with the :class:`Detector` protocol; the standard one,
:class:`exectrail.interference.detector.LogAudit` (the record checks of
:mod:`~exectrail.interference.trail` and the line checks), is plugged in by
:func:`alarm_detector` when alarms are asked for. This module imports it only then: the
detector depends on this path, not the other way round.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeVar

from exectrail.assemble.execve import build_exec_event
from exectrail.assemble.grouper import Assembler, Group
from exectrail.errors import ExectrailError
from exectrail.kernel.procfs import pipe_max_size
from exectrail.lifeline import start_helper
from exectrail.model import Alarm, Diagnostics, ExecEvent, Record
from exectrail.parse.logfile import (
    STDIN,
    ProgressCallback,
    ReadStats,
    check_readable,
    read_record_blocks,
    rereadable,
)

if TYPE_CHECKING:
    from exectrail.interference.trail import Settings

GroupHook = Callable[[Group], None]
T = TypeVar("T")

BATCH = 250  # events (transformed) per message from the helper
SEND_AHEAD = 64  # messages the helper may have ready beyond what the pipe holds
PIPE_BYTES = 16 << 20  # the helper may run this far ahead (capped by /proc/sys/fs/pipe-max-size)


class EventBuilder:
    """Feeds records through an :class:`Assembler` and builds exec events from closed groups.

    ``on_group`` sees every closed group (exec or not), e.g. for interference detection.
    ``incomplete`` counts the exec events built with records known to be missing.
    """

    def __init__(
        self,
        diagnostics: Diagnostics,
        assembler: Assembler | None = None,
        on_group: GroupHook | None = None,
    ) -> None:
        self.diagnostics = diagnostics
        self.assembler = assembler if assembler is not None else Assembler()
        self.on_group = on_group
        self.incomplete = 0

    def feed(self, record: Record) -> list[ExecEvent]:
        """Add one record; return the exec events it completed."""
        groups = self.assembler.feed(record)
        return self.build_groups(groups) if groups else []

    def expire(self, now_seconds: float) -> list[ExecEvent]:
        """Close events none of whose records arrived for a while (live sources call this when
        quiet, with a clock that only moves forward: ``time.monotonic()``)."""
        return self.build_groups(self.assembler.expire(now_seconds))

    def flush(self) -> list[ExecEvent]:
        """End of input: build whatever is still open."""
        return self.build_groups(self.assembler.flush())

    def build_groups(self, groups: list[Group]) -> list[ExecEvent]:
        events = []
        for group in groups:
            if self.on_group is not None:
                self.on_group(group)
            event = build_exec_event(group, self.diagnostics)
            if event is not None:
                events.append(event)
                if event.incomplete:
                    self.incomplete += 1
        return events


def exec_events(
    records: Iterable[Record], diagnostics: Diagnostics, builder: EventBuilder | None = None
) -> Iterator[ExecEvent]:
    """Exec events from a finite stream of records, in the order they complete."""
    yield from _exec_events((records,), diagnostics, builder)


def _exec_events(
    blocks: Iterable[Iterable[Record]], diagnostics: Diagnostics, builder: EventBuilder | None
) -> Iterator[ExecEvent]:
    builder = builder if builder is not None else EventBuilder(diagnostics)
    feed = builder.assembler.feed
    build = builder.build_groups
    for block in blocks:
        for record in block:
            groups = feed(record)
            if groups:
                yield from build(groups)
    yield from builder.flush()


def read_exec_events(
    paths: Iterable[str | Path],
    diagnostics: Diagnostics,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
    builder: EventBuilder | None = None,
) -> Iterator[ExecEvent]:
    """Exec events from audit log files (plain, gzip or ``-`` for stdin)."""
    blocks = read_record_blocks(paths, diagnostics, stats, progress)
    return _exec_events(blocks, diagnostics, builder)


def read_events(paths: Iterable[str | Path]) -> Iterator[ExecEvent]:
    """The exec events of audit log files (plain, gzip, ``-`` for stdin), in the order they complete.

    A file that cannot be opened raises :class:`~exectrail.errors.InputError` before anything is
    read; damaged lines are skipped (``exectrail review -v`` lists them)."""
    names = [str(p) for p in paths]
    check_readable(names)
    yield from LogScan(names)


# -- the scan --------------------------------------------------------------------------------------
class Detector(Protocol):
    """What finds alarms in a scan (:class:`exectrail.interference.detector.LogAudit`): it is handed
    every file that holds records (:meth:`begin_file`, before its first record), the first record of
    every event in log order (:meth:`record`), every closed event (:meth:`group`), the end of the
    records (:meth:`end_input`, before the assembler is flushed), and at last the files read
    (:meth:`finish`). ``diagnostics`` are the scan's (the detector may watch what is added)."""

    @property
    def diagnostics(self) -> Diagnostics: ...

    def begin_file(self, name: str) -> None: ...
    def record(self, record: Record) -> None: ...
    def group(self, group: Group) -> None: ...
    def end_input(self) -> None: ...
    def take(self) -> list[Alarm]: ...
    def finish(self, files: list[str]) -> list[Alarm]: ...


def alarm_detector(
    settings: Settings | None = None, line_checks: bool = True, ahead: Iterable[str | Path] | None = None
) -> Detector:
    """The standard alarm detector (``exectrail alarms``): record checks, and line checks unless
    ``line_checks`` is false (they read each file a second time). ``ahead``: the files to be
    scanned, whose line checks then start now in a helper process, beside the scan (where ``fork``
    is available and stdin is not among them); :meth:`LogScan.close` stops it."""
    from exectrail.interference.detector import LogAudit, lines_ahead  # plugged in: see the module doc

    names = [str(p) for p in ahead] if ahead is not None and line_checks else []
    helper = lines_ahead(names) if _can_read_twice(names) else None
    return LogAudit(settings, line_checks=line_checks, ahead=helper)


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _can_read_twice(names: list[str]) -> bool:
    """True when a helper can read ``names`` while the scan does: regular files only (a pipe --
    stdin, ``<(zcat …)`` -- gives each byte to one reader), and ``fork`` available."""
    return bool(names) and all(map(rereadable, names)) and _can_fork()


class LogScan:
    """One pass over audit log files: an iterator of their exec events; see the module docstring."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        detector: Detector | None = None,
        stats: ReadStats | None = None,
        progress: ProgressCallback | None = None,
        on_group: GroupHook | None = None,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.detector = detector
        self.diagnostics = detector.diagnostics if detector is not None else Diagnostics()
        self.stats = stats if stats is not None else ReadStats()
        self.progress = progress
        self.files: list[str] = []  # the files read that hold audit records, in order
        hooks = [h for h in (detector.group if detector is not None else None, on_group) if h is not None]
        self.builder = EventBuilder(self.diagnostics, on_group=_both(hooks))

    @property
    def incomplete(self) -> int:
        """Exec events built with records known to be missing."""
        return self.builder.incomplete

    def __iter__(self) -> Iterator[ExecEvent]:
        return _exec_events(self.blocks(), self.diagnostics, self.builder)

    def blocks(self) -> Iterator[list[Record]]:
        """The records of the files, a block at a time, each block first shown to the detector."""
        detector = self.detector
        feed = detector.record if detector is not None else None
        last_key, last_node = b"", None
        for name in self.paths:
            found = False
            for block in read_record_blocks([name], self.diagnostics, self.stats, self.progress):
                if not found:  # (a file without records is no part of the trail)
                    found = True
                    if detector is not None:
                        detector.begin_file(name)
                if feed is not None:
                    for record in block:
                        # the detector looks at the first record of each event only: skip the rest
                        if record.key != last_key or record.node != last_node:
                            last_key, last_node = record.key, record.node
                            feed(record)
                yield block
            if found:  # a file with no audit record is "not an audit log" (the reader says so)
                self.files.append(name)
        if detector is not None:
            detector.end_input()

    def take(self) -> list[Alarm]:
        """Alarms found so far and not yet taken (for showing them while reading; cheap when none)."""
        return self.detector.take() if self.detector is not None else []

    def close(self) -> None:
        """Stop what the detector may have running beside the scan (its ``close()``, if it has one)."""
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()

    def finish(self) -> list[Alarm]:
        """After the last event: the alarms not yet taken (spans still open, the line checks)."""
        if self.detector is None:
            return []
        return self.detector.take() + self.detector.finish(self.files)


def _both(hooks: list[GroupHook]) -> GroupHook | None:
    if len(hooks) < 2:
        return hooks[0] if hooks else None
    first, second = hooks

    def both(group: Group) -> None:
        first(group)
        second(group)

    return both


class ScanResult(NamedTuple):
    """What :func:`scan_logs` found: alarms sorted by time, the events (when kept), the scan."""

    alarms: list[Alarm]
    events: list[ExecEvent]
    scan: LogScan


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
    :class:`Detector`."""
    names = [str(p) for p in paths]
    detector = alarm_detector(settings, line_checks, names) if alarms is True else alarms or None
    scan = LogScan(names, detector=detector, stats=stats, progress=progress)
    events: list[ExecEvent] = []
    found: list[Alarm] = []
    try:
        for event in scan:
            if keep_events:
                events.append(event)
            if on_event is not None:
                on_event(event)
            if on_alarm is not None:
                _hand_out(scan.take(), found, on_alarm)
        _hand_out(scan.finish(), found, on_alarm)
    finally:
        scan.close()
    found.sort(key=lambda a: a.time)
    return ScanResult(found, events, scan)


def _hand_out(alarms: list[Alarm], found: list[Alarm], on_alarm: Callable[[Alarm], None] | None) -> None:
    found.extend(alarms)
    if on_alarm is not None:
        for alarm in alarms:
            on_alarm(alarm)


# -- the scan in a helper process --------------------------------------------------------------
class LineChecks(Protocol):
    """Line checks running beside a scan (:class:`exectrail.interference.detector.LinesAhead`)."""

    def result(self, files: list[str], diagnostics: Diagnostics) -> list[Alarm]: ...
    def close(self) -> None: ...


class HelperScan(Generic[T]):
    """``transform(event)`` for the events of ``paths`` (nothing when ``transform`` is None), from a
    :class:`LogScan` run in a helper process; after the iteration: ``diagnostics``, ``stats``,
    ``incomplete`` and :meth:`alarms`. ``progress`` is called here with the bytes read."""

    def __init__(
        self,
        paths: list[str],
        transform: Callable[[ExecEvent], T] | None,
        *,
        alarms: bool = False,
        settings: Settings | None = None,
        line_checks: bool = True,
        progress: ProgressCallback | None = None,
        background: bool = True,
    ) -> None:
        self.paths, self.transform, self.progress = list(paths), transform, progress
        self.want_alarms, self.settings, self.line_checks = alarms, settings, line_checks
        self.diagnostics, self.stats, self.incomplete = Diagnostics(), ReadStats(), 0
        self._found: list[Alarm] | str = []  # or what failed
        self._files: list[str] = []
        self._process: Any = None
        self._conn: Connection | None = None
        self._lines: LineChecks | None = None
        # stdin stays here: multiprocessing points a child's stdin at /dev/null
        if background and STDIN not in self.paths and _can_fork():
            ahead = alarms and line_checks and _can_read_twice(self.paths)
            ctx = multiprocessing.get_context("fork")
            receive, send = ctx.Pipe(duplex=False)
            _grow_pipe(send)
            args = (send, progress is not None, line_checks and not ahead, os.getpid())
            self._process = fork_helper(self._child, args)
            send.close()
            self._conn = receive
            if ahead:  # the second read, at the same time in a second helper
                from exectrail.interference.detector import lines_ahead  # see the module docstring

                self._lines = lines_ahead(self.paths)

    def _scan(self, progress: ProgressCallback | None, line_checks: bool) -> LogScan:
        detector = alarm_detector(self.settings, line_checks) if self.want_alarms else None
        return LogScan(self.paths, detector=detector, progress=progress)

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
        scan = self._scan(self.progress, self.line_checks)
        transform = self.transform
        for event in scan:
            if transform is not None:
                yield transform(event)
        self._found = _finish(scan)
        self.diagnostics, self.stats, self.incomplete = scan.diagnostics, scan.stats, scan.incomplete

    def _child(self, conn: Connection, progress: bool, line_checks: bool, parent: int) -> None:
        helper_started(parent)  # a kill -9 of the command must not leave this reader running
        sender = _Sender(conn)
        try:
            self._produce(sender.put, progress, line_checks)
        except BaseException as exc:
            sender.put(("error", exc))
        finally:
            sender.close()
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


class _Sender:
    """Sends a helper's messages from a thread: the scan runs on while the consumer is busy, up to
    :data:`SEND_AHEAD` messages ahead (the pipe itself holds little: ``pipe-max-size``, 1 MiB)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.Queue[Any] = queue.Queue(SEND_AHEAD)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def put(self, message: Any) -> None:
        self._queue.put(message)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._conn.send(message)
            except OSError:
                return  # the consumer is gone (it stops this process)
            except Exception as exc:  # something that does not pickle (an exception, say): say what
                failed = message[1] if message[0] == "error" else exc
                error = ExectrailError(f"reading failed: {type(failed).__name__}: {failed}")
                with contextlib.suppress(OSError):
                    self._conn.send(("error", error))
                return

    def close(self) -> None:
        """Send what is queued; then return."""
        self._queue.put(None)
        self._thread.join()


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


def _grow_pipe(conn: Connection) -> None:
    """A deep pipe, so the helper is not held up each time this process does its own work."""
    for size in (PIPE_BYTES, pipe_max_size()):
        try:
            fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, size)
            return
        except OSError:
            continue


__all__ = [
    "Detector",
    "EventBuilder",
    "GroupHook",
    "HelperScan",
    "LogScan",
    "ScanResult",
    "alarm_detector",
    "exec_events",
    "fork_helper",
    "helper_started",
    "read_events",
    "read_exec_events",
    "scan_logs",
]
