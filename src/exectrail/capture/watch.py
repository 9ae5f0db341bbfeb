"""The live loop: records → assembler (EOE closes events) → filter → writer, until told to stop.

Every event also goes to ``record`` (the store and the sinks), whether the filter shows it or not.
Stops on ``stop`` (set by a signal handler), ``--count``, ``--duration`` or the end of the source.
A clean stop first deletes the rules it added, then drains what the kernel still sends, then
builds what is left open, so nothing captured before the stop is dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exectrail.capture.session import Capture
from exectrail.filters import EventFilter
from exectrail.model import ExecEvent, Record
from exectrail.output.writers import EventWriter
from exectrail.pipeline import EventBuilder

if TYPE_CHECKING:
    from exectrail.capture.livecontext import LiveContextStage

POLL_SECONDS = 0.2
FLUSH_SECONDS = 0.5  # longest time an event waits in the writer's buffer
DRAIN_QUIET_SECONDS = 0.3
DRAIN_MAX_SECONDS = 5.0
CONTEXT_DRAIN_SECONDS = 2.0  # longest wait at stop for the hashes of the last events


@dataclass(frozen=True)
class Limits:
    count: int | None = None  # stop after this many events shown
    duration: float | None = None  # stop after this many seconds


@dataclass
class Totals:
    """What one watch saw (for the summary line)."""

    events: int = 0  # exec events built
    shown: int = 0  # exec events that passed the filter and were written
    seconds: float = 0.0
    reason: str = ""
    context: str = ""  # what the live context stage did (its summary line)


class Watch:
    """Runs the loop over one :class:`~exectrail.capture.session.Capture`."""

    def __init__(
        self,
        capture: Capture,
        builder: EventBuilder,
        event_filter: EventFilter,
        writer: EventWriter,
        limits: Limits,
        stop: threading.Event,
        on_idle: Callable[[], None] | None = None,
        record: Callable[[ExecEvent], None] | None = None,
        context: LiveContextStage | None = None,
    ) -> None:
        self.capture = capture
        self.builder = builder
        self.filter = event_filter
        self.writer = writer
        self.limits = limits
        self.stop = stop
        self.on_idle = on_idle
        self.record = record
        self.context = context
        self.totals = Totals()
        self._flushed = 0.0

    def run(self) -> Totals:
        started = time.monotonic()
        deadline = None if self.limits.duration is None else started + self.limits.duration
        reason = self._loop(deadline)
        if reason != "count":
            self._finish()
        self.totals.seconds = time.monotonic() - started
        self.totals.reason = reason
        if self.context is not None:
            self.totals.context = self.context.summary()
        return self.totals

    def _loop(self, deadline: float | None) -> str:
        source, monitor = self.capture.source, self.capture.monitor
        while True:
            if self.stop.is_set():
                return "signal"
            if deadline is not None and time.monotonic() >= deadline:
                return "duration"
            if source.ended:
                return f"error: {source.error}" if source.error else "end of input"
            records = source.poll(POLL_SECONDS)
            if self._feed(records):
                return "count"
            if not records:
                self._emit(self.builder.expire(time.monotonic()))
                if self.context is not None and self._emit_ready(self.context.ready()):
                    return "count"
            if not records or time.monotonic() - self._flushed >= FLUSH_SECONDS:
                self._flush()
            monitor.tick()

    def _feed(self, records: list[Record]) -> bool:
        """Feed records; True when ``--count`` is reached."""
        feed = self.builder.feed
        for record in records:
            events = feed(record)
            if events and self._emit(events):
                return True
        return False

    def _emit(self, events: list[ExecEvent]) -> bool:
        """Events built: through the live context stage (which may hold some back), then out."""
        if self.context is not None:
            events = self.context.add(events)
        return self._emit_ready(events)

    def _emit_ready(self, events: list[ExecEvent]) -> bool:
        count, record = self.limits.count, self.record
        for event in events:
            self.totals.events += 1
            if record is not None:
                record(event)
            if self.filter.matches(event):
                self.writer.write(event)
                self.totals.shown += 1
                if count is not None and self.totals.shown >= count:
                    return True
        return False

    def _flush(self) -> None:
        self._flushed = time.monotonic()
        flush = getattr(self.writer, "flush", None)
        if callable(flush):
            flush()
        if self.on_idle is not None:
            self.on_idle()

    def _finish(self) -> None:
        """Delete our rules, drain what is still coming, then close every open event."""
        self.capture.stop_rules()
        source = self.capture.source
        start = quiet_since = time.monotonic()
        while not source.ended:
            records = source.poll(0.05)
            now = time.monotonic()
            if records:
                quiet_since = now
                if self._feed(records):
                    return
            if now - quiet_since >= DRAIN_QUIET_SECONDS or now - start >= DRAIN_MAX_SECONDS:
                break
        self._emit(self.builder.flush())
        if self.context is not None:
            self._emit_ready(self.context.drain(CONTEXT_DRAIN_SECONDS))
        self.capture.monitor.finish()
