"""Grouping does not depend on time moving forward: a clock step back or one event stamped in the
future changes nothing for the events around them (real logs, edited the way the clock would)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.support.context import check_parents, without_identity_context
from tests.support.paths import DATA

_HEADER = re.compile(rb"msg=audit\((\d+)\.(\d{3}):(\d+)\)")


def shift(line: bytes, seconds: int) -> bytes:
    return _HEADER.sub(lambda m: b"msg=audit(%d.%s:%s)" % (int(m[1]) + seconds, m[2], m[3]), line, count=1)


def read(path: Path) -> tuple[list[ExecEvent], Diagnostics]:
    diagnostics = Diagnostics()
    return list(read_exec_events([path], diagnostics)), diagnostics


def without_time(events: list[ExecEvent]) -> list[ExecEvent]:
    """The events with one time, and without what depends on it (exec ids, parents found by time)."""
    epoch = events[0].time
    return [dataclasses.replace(without_identity_context(e), time=epoch) for e in events]


@pytest.mark.parametrize("name", ["interleaved_concurrent.log", "workload_enriched.log"])
def test_clock_step_back_and_a_future_event_change_nothing_around_them(name: str, tmp_path: Path) -> None:
    lines = (DATA / name).read_bytes().splitlines(keepends=True)
    keys = [m[0] if (m := _HEADER.search(line)) is not None else b"" for line in lines]
    first_seen: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        first_seen.setdefault(key, i)
    step_at = len(lines) // 2  # events begun from here on are stamped an hour behind
    future_key = keys[len(lines) // 3]  # every record of this event is a year ahead
    edited = []
    for line, key in zip(lines, keys, strict=True):
        if key == future_key:
            line = shift(line, 365 * 86400)
        edited.append(shift(line, -3600) if key and first_seen[key] >= step_at else line)
    (tmp_path / "edited.log").write_bytes(b"".join(edited))

    original, diag_original = read(DATA / name)
    changed, diag_changed = read(tmp_path / "edited.log")

    assert len(original) > 100 and any(e.argv for e in original)
    # the same events, but for the exec ids of those re-timed and parents the clock step hides
    assert without_time(changed) == without_time(original)
    check_parents(changed)
    kept = sum(c.parent_exec_id is not None for c in changed)
    assert kept > sum(o.parent_exec_id is not None for o in original) // 2
    assert diag_changed.counts == diag_original.counts
    moved = sum(e.time != o.time for e, o in zip(changed, original, strict=True))
    assert 0 < moved < len(original)
