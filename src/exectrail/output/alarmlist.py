"""Printing alarms: through the shared writers (with evidence under each in table form), handed on
to a command's sinks, and the one-line count for summaries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from exectrail.filters import EventFilter
from exectrail.model import CERTAIN, Alarm
from exectrail.output.terminal import terminal_text
from exectrail.output.writers import EventWriter, make_writer
from exectrail.store.alarms import alarm_message_body

EVIDENCE_LINES = 3


def alarm_summary(alarms: list[Alarm]) -> str:
    """``3 alarms (2 certain, 1 suspicious)`` or ``no alarm``."""
    if not alarms:
        return "no alarm"
    certain = sum(a.certainty == CERTAIN for a in alarms)
    count = len(alarms)
    return f"{count} alarm{'s' if count != 1 else ''} ({certain} certain, {count - certain} suspicious)"


def show_evidence(alarm: Alarm, lines: int | None) -> None:
    """Evidence lines under an alarm in table output (stdout, indented)."""
    shown = alarm.evidence if lines is None else alarm.evidence[:lines]
    for line in shown:
        click.echo("    " + terminal_text(line.replace("\x1d", " "))[:400])
    if lines is not None and len(alarm.evidence) > lines:
        click.echo(f"    … {len(alarm.evidence) - lines} more (--format jsonl shows all)")


class AlarmPrinter:
    """Alarms found while reading (``review``): written through the command's writer, their forwarded
    form handed to ``forward`` (the sinks; None: none), kept for the summary; those outside
    ``--start``/``--end`` are left out."""

    def __init__(
        self,
        writer: EventWriter,
        forward: Callable[[dict[str, Any]], None] | None,
        event_filter: EventFilter,
    ) -> None:
        self.writer = writer
        self.forward = forward
        self.start = event_filter.start
        self.end = event_filter.end
        self.found: list[Alarm] = []

    def show(self, alarms: list[Alarm]) -> None:
        for alarm in alarms:
            if (self.start is not None and alarm.time < self.start) or (
                self.end is not None and alarm.time > self.end
            ):
                continue
            self.found.append(alarm)
            self.writer.write_alarm(alarm)
            if self.forward is not None:
                self.forward(alarm_message_body(alarm))

    def summary(self) -> str:
        return alarm_summary(self.found)


def emit_alarms(alarms: list[Alarm], fmt: str, verbose: bool) -> None:
    """Print alarms through the shared writers; evidence follows each alarm in table form."""
    writer = make_writer(fmt)
    try:
        for alarm in alarms:
            writer.write_alarm(alarm)
            if fmt == "table":
                show_evidence(alarm, None if verbose else EVIDENCE_LINES)
    finally:
        if alarms or fmt != "table":
            writer.close()
        else:
            click.echo("(no alarm)")
