"""The process table (issue 14, item 2): pid reuse by time, late events put in place, bounds, the
captured logs' runner and exec chains, a reference model under hypothesis, and a real child's start
time against :func:`still_that_process`."""

from __future__ import annotations

import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.enrich.proctable import START_TOLERANCE_MS, ProcEntry, ProcessTable, still_that_process
from exectrail.kernel.procfs import boot_time_ms, read_proc
from exectrail.model import ExecEvent
from tests.support.captures import manifest, read_events
from tests.support.paths import CAPTURED_LOGS


def entry(pid: int, time_ms: int, exec_id: str | None = None, exe: str = "/bin/x") -> ProcEntry:
    return ProcEntry(pid, time_ms, exec_id or f"{pid}@{time_ms}", exe, (exe.encode(),))


def test_pid_reuse_is_resolved_by_the_time_of_the_child() -> None:
    table = ProcessTable()
    old, new = entry(1234, 100, exe="/bin/old"), entry(1234, 500, exe="/bin/new")
    table.record(old)
    table.record(new)
    assert table.lookup(1234, 300) is old  # a child of the first process, whose event came late
    assert table.lookup(1234, 600) is new
    assert table.lookup(1234, 500) is new  # at the exec's own ms: that exec
    assert table.lookup(1234, 99) is None  # before any exec known: someone the table never saw
    assert table.lookup(4321, 600) is None


def test_a_late_exec_is_put_in_its_place() -> None:
    table = ProcessTable()
    first, late, last = entry(7, 100), entry(7, 300), entry(7, 500)
    table.record(first)
    table.record(last)
    table.record(late)  # its records came seconds after the later exec's
    assert [table.lookup(7, t) for t in (150, 300, 499, 500, 10_000)] == [first, late, late, last, last]


def test_each_pid_keeps_its_latest_execs_only() -> None:
    table = ProcessTable(per_pid=2)
    for t in (100, 200, 300):
        table.record(entry(9, t))
    assert table.lookup(9, 150) is None  # 100 went: it was the oldest
    assert table.lookup(9, 250) == entry(9, 200)
    table.record(entry(9, 50))  # late and older than both kept: not kept
    assert table.lookup(9, 60) is None
    table.record(entry(9, 250))  # late, between them: kept, 200 goes
    assert table.lookup(9, 260) == entry(9, 250) and table.lookup(9, 220) is None


def test_the_same_exec_recorded_twice_is_kept_once() -> None:
    table = ProcessTable(per_pid=2)
    a, b = entry(5, 100), entry(5, 200)
    for e in (a, b, a, b):
        table.record(e)
    assert table.lookup(5, 150) is a and table.lookup(5, 250) is b


def test_execs_in_the_same_ms_are_ordered_by_arrival() -> None:
    table = ProcessTable()
    a, b = entry(5, 100, "a"), entry(5, 100, "b")
    table.record(a)
    table.record(b)
    assert table.lookup(5, 100) is b


def test_a_full_table_drops_the_pid_recorded_least_recently_and_counts_it() -> None:
    table = ProcessTable(max_pids=3)
    for pid in (1, 2, 3):
        table.record(entry(pid, 100))
    table.record(entry(1, 200))  # pid 1 recorded again: 2 is now the least recent
    table.lookup(2, 300)  # a lookup does not make a pid recent
    table.record(entry(4, 300))
    assert len(table) == 3 and table.evictions == 1
    assert table.lookup(2, 300) is None
    assert [table.lookup(pid, 300) is not None for pid in (1, 3, 4)] == [True, True, True]
    table.record(entry(5, 400))
    assert table.evictions == 2 and table.lookup(3, 400) is None


def test_bounds_must_allow_one_entry() -> None:
    with pytest.raises(ValueError):
        ProcessTable(max_pids=0)
    with pytest.raises(ValueError):
        ProcessTable(per_pid=0)


def _from_event(event: ExecEvent) -> ProcEntry:
    assert event.pid is not None
    return ProcEntry(event.pid, event.epoch_ms, event.event_id, event.exe, event.argv)


MANIFESTS = ["workload_enriched", "workload_raw_node", "interleaved_concurrent"]


@pytest.mark.parametrize(
    ("log", "name"), list(zip(CAPTURED_LOGS, MANIFESTS, strict=True)), ids=lambda v: getattr(v, "name", v)
)
def test_the_captured_logs_parent_is_the_runner_and_chains_resolve(log: Path, name: str) -> None:
    """Every case the workload runner forked finds its parent, the runner's own exec in the log, as
    events come (the RAW and interleaved logs are not in time order); each exec of a pid that exec'd
    several times finds itself (or, in the same ms, the last exec of that ms): room for 8 execs per
    pid keeps all 6 of an interleaved chain."""
    events = read_events(log)
    runner = manifest(name)["runner"]
    table = ProcessTable(per_pid=8)
    for event in events:
        if event.success:
            table.record(_from_event(event))
    (runner_exec,) = [e for e in events if e.pid == runner["pid"] and e.success]
    cases = {c["pid"]: c["ppid"] for c in manifest(name)["cases"]}
    case_events = [e for e in events if e.pid in cases and e.success]
    assert len(case_events) > 20
    for event in case_events:
        parent = table.lookup(cases[event.pid], event.epoch_ms)
        assert parent is not None and parent.exec_id == runner_exec.event_id
        assert parent.exe is not None and parent.exe.encode() == bytes.fromhex(runner["exe_hex"])
    assert table.lookup(runner["pid"], runner_exec.epoch_ms - 1) is None
    by_pid: dict[int | None, list[ExecEvent]] = defaultdict(list)
    for event in case_events:
        by_pid[event.pid].append(event)
    chains = {pid: execs for pid, execs in by_pid.items() if len(execs) > 1}
    assert chains
    for pid, execs in chains.items():
        assert pid is not None
        for event in execs:
            found = table.lookup(pid, event.epoch_ms)
            assert found is not None and found.time_ms == event.epoch_ms
            if sum(e.epoch_ms == event.epoch_ms for e in execs) == 1:
                assert found.exec_id == event.event_id and found.argv == event.argv


def test_the_interleaved_log_with_two_execs_per_pid_gives_the_latest_two() -> None:
    """A small ``per_pid`` on real out-of-order events: what stays is each pid's latest execs."""
    events = [e for e in read_events(CAPTURED_LOGS[2]) if e.success and e.pid is not None]
    table = ProcessTable(per_pid=2)
    for event in events:
        table.record(_from_event(event))
    latest: dict[int, list[int]] = defaultdict(list)
    for event in events:
        assert event.pid is not None
        latest[event.pid].append(event.epoch_ms)
    for pid, times in latest.items():
        times.sort()
        found = table.lookup(pid, times[-1])
        assert found is not None and found.time_ms == times[-1]
        if len(times) > 2 and times[-2] > times[-3]:
            assert table.lookup(pid, times[-3]) is None  # dropped: older than the two kept
            assert table.lookup(pid, times[-2]) is not None


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.integers(1, 6), st.integers(0, 40), st.integers(0, 3)),
        st.tuples(st.just("lookup"), st.integers(0, 7), st.integers(-1, 41), st.just(0)),
    ),
    max_size=80,
)


@given(_ops, st.integers(1, 4), st.integers(1, 3))
@settings(max_examples=300, deadline=None)
def test_record_and_lookup_agree_with_a_reference_model(
    ops: list[tuple[str, int, int, int]], max_pids: int, per_pid: int
) -> None:
    """The model keeps every exec with its arrival number, orders by (time, arrival) and keeps the
    top ``per_pid``; pids leave in the order they were last recorded."""
    table = ProcessTable(max_pids=max_pids, per_pid=per_pid)
    kept: dict[int, list[tuple[int, int, ProcEntry]]] = {}
    recency: list[int] = []
    evictions = 0
    for arrival, (op, pid, t, tag) in enumerate(ops):
        if op == "record":
            new = entry(pid, t, f"{pid}-{t}-{tag}")
            table.record(new)
            if pid in recency:
                recency.remove(pid)
            elif len(recency) >= max_pids:
                kept.pop(recency.pop(0))
                evictions += 1
            recency.append(pid)
            mine = kept.setdefault(pid, [])
            if not any(e == new for _, _, e in mine):
                mine.append((t, arrival, new))
                mine.sort(key=lambda k: (k[0], k[1]))
                del mine[:-per_pid]
        else:
            candidates = [e for when, _, e in kept.get(pid, []) if when <= t]
            assert table.lookup(pid, t) == (candidates[-1] if candidates else None)
        assert len(table) == len(recency) and table.evictions == evictions


def test_still_that_process_against_a_real_child() -> None:
    """The start of a real child, read from /proc and moved to wall time, is no earlier than the
    wall clock before it was forked (less the tolerance): an exec logged after that is its own, one
    a second earlier is another process's."""
    before = time.time_ns() // 1_000_000
    child = subprocess.Popen(["sleep", "30"])
    try:
        after = time.time_ns() // 1_000_000
        proc = read_proc(child.pid, boot_time_ms(), os.sysconf("SC_CLK_TCK"))
        assert proc is not None
        assert before - START_TOLERANCE_MS <= proc.start_ms <= after + START_TOLERANCE_MS
        assert still_that_process(entry(child.pid, after), proc.start_ms)
        assert still_that_process(entry(child.pid, proc.start_ms - START_TOLERANCE_MS), proc.start_ms)
        assert not still_that_process(entry(child.pid, before - 1000), proc.start_ms)
        assert not still_that_process(entry(child.pid, proc.start_ms - START_TOLERANCE_MS - 1), proc.start_ms)
        assert still_that_process(entry(child.pid, 0), None)
    finally:
        child.kill()
        child.wait()
