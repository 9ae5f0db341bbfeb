"""One pass over audit log files: :class:`LogScan`, an iterator of their exec events that shows every
file, record and event to an alarm detector (anything with the :class:`Detector` protocol) on the
way; :meth:`LogScan.run` reads it all, handing out events and alarms as they come. :func:`read_events`
is the simple library entry: the exec events of log files, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

from exectrail.assemble.grouper import Group
from exectrail.enrich.context import ContextBuilder
from exectrail.model import Alarm, Diagnostics, ExecEvent, Record
from exectrail.parse.logfile import ProgressCallback, ReadStats, check_readable, read_record_blocks
from exectrail.pipeline.events import EventBuilder, GroupHook, block_events


class Detector(Protocol):
    """What finds alarms in a scan (the standard one: :class:`exectrail.interference.detector.LogAudit`):
    it is handed every file that holds records (:meth:`begin_file`, before its first record), the
    first record of every event in log order (:meth:`record`), every closed event (:meth:`group`),
    the end of the records (:meth:`end_input`, before the assembler is flushed), and at last the
    files read (:meth:`finish`). ``diagnostics`` are the scan's (the detector may watch what is
    added)."""

    @property
    def diagnostics(self) -> Diagnostics: ...

    def begin_file(self, name: str) -> None: ...
    def record(self, record: Record) -> None: ...
    def group(self, group: Group) -> None: ...
    def end_input(self) -> None: ...
    def take(self) -> list[Alarm]: ...
    def finish(self, files: list[str]) -> list[Alarm]: ...


class ScanResult(NamedTuple):
    """What :meth:`LogScan.run` found: alarms sorted by time, the events (when kept), the scan."""

    alarms: list[Alarm]
    events: list[ExecEvent]
    scan: LogScan


class LogScan:
    """One pass over audit log files: an iterator of their exec events. Files are read one at a time
    (a block of lines at a time); each record goes to the detector (when there is one) and then to
    the assembler; each closed event (all its records) to the detector again. After (or during) the
    iteration: ``diagnostics``, ``stats``, ``incomplete``, :meth:`take` (alarms found so far) and
    :meth:`finish` (the rest)."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        detector: Detector | None = None,
        stats: ReadStats | None = None,
        progress: ProgressCallback | None = None,
        on_group: GroupHook | None = None,
        host_id: str | None = None,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.detector = detector
        self.diagnostics = detector.diagnostics if detector is not None else Diagnostics()
        self.stats = stats if stats is not None else ReadStats()
        self.progress = progress
        self.files: list[str] = []  # the files read that hold audit records, in order
        hooks = [h for h in (detector.group if detector is not None else None, on_group) if h is not None]
        self.builder = EventBuilder(self.diagnostics, on_group=_both(hooks), context=ContextBuilder(host_id))

    @property
    def incomplete(self) -> int:
        """Exec events built with records known to be missing."""
        return self.builder.incomplete

    def __iter__(self) -> Iterator[ExecEvent]:
        return block_events(self.blocks(), self.diagnostics, self.builder)

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

    def run(
        self,
        keep_events: bool = False,
        on_event: Callable[[ExecEvent], None] | None = None,
        on_alarm: Callable[[Alarm], None] | None = None,
    ) -> ScanResult:
        """Read everything: every exec event to ``on_event`` as it completes, every alarm to
        ``on_alarm`` as it is found (in the order found); return them (alarms sorted by time, the
        events when ``keep_events``). The scan is closed at the end."""
        events: list[ExecEvent] = []
        found: list[Alarm] = []
        try:
            for event in self:
                if keep_events:
                    events.append(event)
                if on_event is not None:
                    on_event(event)
                if on_alarm is not None:
                    _hand_out(self.take(), found, on_alarm)
            _hand_out(self.finish(), found, on_alarm)
        finally:
            self.close()
        found.sort(key=lambda a: a.time)
        return ScanResult(found, events, self)


def _both(hooks: list[GroupHook]) -> GroupHook | None:
    if len(hooks) < 2:
        return hooks[0] if hooks else None
    first, second = hooks

    def both(group: Group) -> None:
        first(group)
        second(group)

    return both


def _hand_out(alarms: list[Alarm], found: list[Alarm], on_alarm: Callable[[Alarm], None] | None) -> None:
    found.extend(alarms)
    if on_alarm is not None:
        for alarm in alarms:
            on_alarm(alarm)


def read_events(paths: Iterable[str | Path], host_id: str | None = None) -> Iterator[ExecEvent]:
    """The exec events of audit log files (plain, gzip, ``-`` for stdin), in the order they complete,
    each with its context (exec ids with ``host_id`` for events without ``node=``: default this
    host's machine id; parents from the execs read before it).

    A file that cannot be opened raises :class:`~exectrail.errors.InputError` before anything is
    read; damaged lines are skipped (``exectrail review -v`` lists them)."""
    names = [str(p) for p in paths]
    check_readable(names)
    yield from LogScan(names, host_id=host_id)


__all__ = ["Detector", "LogScan", "ScanResult", "read_events"]
