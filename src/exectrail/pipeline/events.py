"""Records → exec events: :class:`EventBuilder` feeds records through an
:class:`~exectrail.assemble.grouper.Assembler` and builds exec events from the closed groups (live
sources take this part of the path alone); :func:`exec_events` and :func:`read_exec_events` do it
for a finite stream of records and for log files."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from exectrail.assemble.execve import ContextHook, build_exec_event
from exectrail.assemble.grouper import Assembler, Group
from exectrail.enrich.context import ContextBuilder
from exectrail.model import Diagnostics, ExecEvent, Record
from exectrail.parse.logfile import ProgressCallback, ReadStats, read_record_blocks

GroupHook = Callable[[Group], None]


class EventBuilder:
    """Feeds records through an :class:`Assembler` and builds exec events from closed groups.

    ``on_group`` sees every closed group (exec or not), e.g. for interference detection.
    ``incomplete`` counts the exec events built with records known to be missing. Every event gets
    its context from ``context`` (default: a :class:`~exectrail.enrich.context.ContextBuilder` for
    a log of this host), which sees the events in the order they complete.
    """

    def __init__(
        self,
        diagnostics: Diagnostics,
        assembler: Assembler | None = None,
        on_group: GroupHook | None = None,
        context: ContextHook | None = None,
    ) -> None:
        self.diagnostics = diagnostics
        self.context = context if context is not None else ContextBuilder()
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
        context = self.context
        for group in groups:
            if self.on_group is not None:
                self.on_group(group)
            event = build_exec_event(group, self.diagnostics, context)
            if event is not None:
                events.append(event)
                if event.incomplete:
                    self.incomplete += 1
        return events


def exec_events(
    records: Iterable[Record], diagnostics: Diagnostics, builder: EventBuilder | None = None
) -> Iterator[ExecEvent]:
    """Exec events from a finite stream of records, in the order they complete."""
    yield from block_events((records,), diagnostics, builder)


def block_events(
    blocks: Iterable[Iterable[Record]], diagnostics: Diagnostics, builder: EventBuilder | None
) -> Iterator[ExecEvent]:
    """Exec events from a finite stream of blocks of records (the reader's unit), in the order they
    complete."""
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
    return block_events(blocks, diagnostics, builder)


__all__ = ["EventBuilder", "GroupHook", "block_events", "exec_events", "read_exec_events"]
