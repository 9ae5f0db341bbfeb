"""Comparing exec events whose neighbours in the stream changed.

``exec_id`` depends on the event's own time and serial (and the host identity); ``parent`` and
``parent_exec_id`` on the stream's earlier execs. Tests that damage, move or re-time *other* events
compare the rest of an event exactly, and check the stream context with :func:`check_parents`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from exectrail.model import ExecEvent

#: Fields an event gets from its neighbours in the stream.
STREAM_FIELDS = ("parent_exec_id", "parent")
#: Fields an event gets from its identity (time, serial, node) besides those above.
IDENTITY_FIELDS = ("exec_id",)
#: Fields from the SYSCALL record's ENRICHED part (absent with that record).
NAME_FIELDS = ("uid_name", "euid_name", "auid_name", "gid_name", "names_source")


def without_stream_context(event: ExecEvent) -> ExecEvent:
    """The event without what its neighbours in the stream gave it."""
    return dataclasses.replace(event, parent_exec_id=None, parent=None)


def without_identity_context(event: ExecEvent) -> ExecEvent:
    """The event without its stream context and its exec id (for events whose time was changed)."""
    return dataclasses.replace(without_stream_context(event), exec_id=None)


def check_parents(events: Iterable[ExecEvent]) -> None:
    """Every parent an event names is an exec of the same stream, of its ppid, not later than it."""
    events = list(events)
    by_id: dict[str, list[ExecEvent]] = {}
    for e in events:
        if e.exec_id is not None:
            by_id.setdefault(e.exec_id, []).append(e)
    for event in events:
        if event.parent_exec_id is None:
            assert event.parent is None or event.parent.get("source") != "trail", event
            continue
        assert event.parent is not None and event.parent["exec_id"] == event.parent_exec_id
        candidates = by_id.get(event.parent_exec_id, [])  # an event repeated in a damaged log: any copy
        assert any(
            p.pid == event.ppid == event.parent["pid"] and p.success and p.epoch_ms <= event.epoch_ms
            for p in candidates
        ), f"{event.event_id}: parent {event.parent_exec_id} is no earlier exec of its ppid: {candidates}"
