"""Reading logs with interference detection: the glue between the reader, the event builder, the
record auditor (:mod:`~exectrail.interference.trail`) and the line checks
(:mod:`~exectrail.interference.lines`).

``review`` uses :func:`audited_records` in place of ``read_records`` (one pass, the fast reader,
files read one at a time so that their boundaries are known) and calls :meth:`LogAudit.finish`
after the last event; ``exectrail alarms`` and ``check-procs`` use :func:`scan_logs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from exectrail.interference.lines import BadLine, check_lines
from exectrail.interference.trail import Settings, TrailAuditor
from exectrail.model import Alarm, Diagnostics, ExecEvent, Record
from exectrail.parse.logfile import STDIN, ProgressCallback, ReadStats, read_record_blocks
from exectrail.pipeline import EventBuilder, GroupHook, exec_events

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


@dataclass
class LogAudit:
    """One audited read: the auditor, the diagnostics it watches, the files read."""

    settings: Settings = field(default_factory=Settings)
    diagnostics: AlarmDiagnostics = field(default_factory=AlarmDiagnostics)
    auditor: TrailAuditor = field(init=False)
    paths: list[str] = field(default_factory=list)  # the files read that hold audit records

    def __post_init__(self) -> None:
        self.auditor = TrailAuditor(self.settings)

    def builder(self, on_group: GroupHook | None = None) -> EventBuilder:
        """An event builder whose closed groups reach the auditor (and ``on_group`` too)."""
        audit_group = self.auditor.group
        if on_group is None:
            return EventBuilder(self.diagnostics, on_group=audit_group)

        def both(group: list[Record]) -> None:
            audit_group(group)
            on_group(group)

        return EventBuilder(self.diagnostics, on_group=both)

    def records(
        self,
        paths: Iterable[str | Path],
        stats: ReadStats | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Record]:
        """Every record of ``paths`` (like ``read_records``), each also seen by the auditor."""
        auditor = self.auditor
        feed = auditor.record
        last_key, last_node = b"", None
        for path in paths:
            name = str(path)
            found = False
            for block in read_record_blocks([name], self.diagnostics, stats, progress):
                if not found:  # (a file without records is no part of the trail)
                    found = True
                    auditor.begin_file(name)
                for record in block:
                    # the auditor looks at the first record of each event only: skip the call for the rest
                    if record.key != last_key or record.node != last_node:
                        last_key, last_node = record.key, record.node
                        feed(record)
                yield from block
            if found:  # a file with no audit record is "not an audit log" (the reader says so): no alarms
                self.paths.append(name)
        auditor.end_input()

    def take(self) -> list[Alarm]:
        """Alarms found so far and not yet taken (for printing while reading; cheap when none)."""
        return self.auditor.take() if self.auditor.pending else []

    def finish(self, check_line_integrity: bool = True) -> list[Alarm]:
        """After the last event: close open spans, check the lines of every file; the remaining alarms."""
        alarms = self.auditor.finish()
        if check_line_integrity:
            for path in self.paths:
                if path != STDIN:
                    alarms.extend(check_lines(path, self.diagnostics.bad_lines.get(path)))
        return alarms


def scan_logs(
    paths: Iterable[str | Path],
    settings: Settings | None = None,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
    keep_events: bool = False,
    line_checks: bool = True,
) -> tuple[list[Alarm], list[ExecEvent], LogAudit]:
    """All alarms of ``paths`` sorted by time, the exec events (when ``keep_events``), the audit."""
    audit = LogAudit(settings or Settings())
    events: list[ExecEvent] = []
    builder = audit.builder()
    for event in exec_events(audit.records(paths, stats, progress), audit.diagnostics, builder):
        if keep_events:
            events.append(event)
    alarms = audit.take() + audit.finish(check_line_integrity=line_checks)
    alarms.sort(key=lambda a: a.time)
    return alarms, events, audit
