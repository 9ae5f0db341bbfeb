"""search, timeline, report and the SQL filter on real events, checked against ``EventFilter``."""

from __future__ import annotations

import collections
import errno
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.errors import UsageError
from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.query.report import place_of, report
from exectrail.query.search import SearchQuery, fts_query, search
from exectrail.query.timeline import TimelineQuery, sessions, timeline
from exectrail.store import EventStore


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, real_events: list[ExecEvent]) -> EventStore:
    path = tmp_path_factory.mktemp("queries") / "e.db"
    with EventStore(path) as writable, writable.writer() as writer:
        for event in real_events:
            writer.add(event)
    return EventStore(path, readonly=True)


def _in_time_order(events: list[ExecEvent]) -> list[ExecEvent]:
    return sorted(events, key=lambda e: (e.time, e.serial, e.node or ""))


@st.composite
def filters(draw: st.DrawFn, events: list[ExecEvent]) -> EventFilter:
    """Filters built from values that occur in the events (plus some that do not)."""

    def pick(values: set[Any]) -> list[Any]:  # Any: an event's pid, ppid or uid may be None
        return draw(st.lists(st.sampled_from(sorted(values, key=repr)), max_size=2))

    comms = {e.comm for e in events if e.comm}
    exes = {e.exe for e in events if e.exe}
    globs = {"*true", "/usr/*", "*[0-9]*", "exec_?hain", "*\udcff*"}
    times = sorted(e.time for e in events)
    start = draw(st.one_of(st.none(), st.sampled_from(times)))
    return EventFilter(
        pids=frozenset(pick({e.pid for e in events} | {1})),
        ppids=frozenset(pick({e.ppid for e in events})),
        uids=frozenset(pick({e.uid for e in events} | {1000})),
        auids=frozenset(pick({e.auid for e in events} | {None, 1000})),
        comms=tuple(pick(comms | globs)),
        exes=tuple(pick(exes | globs)),
        keys=tuple(pick({"procmon", "other"})),
        success=draw(st.sampled_from([None, True, False])),
        start=None if start is None else start + timedelta(microseconds=draw(st.sampled_from([0, 1, 999]))),
        end=draw(st.one_of(st.none(), st.sampled_from(times))),
        argv_contains=tuple(pick({"hello world", "-la", "\udcff", "concurrent-1", "x y", "é"})),
    )


def test_sql_filter_agrees_with_event_filter(store: EventStore, real_events: list[ExecEvent]) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(filters(real_events))
    def check(event_filter: EventFilter) -> None:
        expected = _in_time_order([e for e in real_events if event_filter.matches(e)])
        assert list(search(store.conn, SearchQuery(event_filter))) == expected

    check()


def test_each_filter_alone_selects_something(store: EventStore, real_events: list[ExecEvent]) -> None:
    some = real_events[100]
    assert some.pid is not None
    for event_filter in (
        EventFilter(pids=frozenset({some.pid})),
        EventFilter(exes=("*/exec_chain",)),
        EventFilter(comms=("true",)),
        EventFilter(auids=frozenset({None})),
        EventFilter(success=False),
        EventFilter(argv_contains=("concurrent-1",)),
        EventFilter(keys=("procmon",)),
        EventFilter(start=some.time, end=some.time),
    ):
        expected = _in_time_order([e for e in real_events if event_filter.matches(e)])
        found = list(search(store.conn, SearchQuery(event_filter)))
        assert found == expected and found, event_filter


def _text_matches(event: ExecEvent, word: str) -> bool:
    line = b" ".join(event.argv).decode("utf-8", "replace") if event.argv is not None else event.path or ""
    return word.lower() in line.lower()


@pytest.mark.parametrize(
    "words", [("exec_chain",), ("concurrent-3",), ("lead", "trail"), ("ENOENT-missing",)]
)
def test_text_search_finds_command_lines(
    store: EventStore, real_events: list[ExecEvent], words: tuple[str, ...]
) -> None:
    found = list(search(store.conn, SearchQuery(text=words)))
    expected = [e for e in real_events if all(_text_matches(e, w) for w in words)]
    assert {e.event_id for e in found} <= {e.event_id for e in real_events}
    # whole-word matching can only find fewer than a substring test; for these words it is the same set
    assert sorted(e.event_id for e in found) == sorted(e.event_id for e in expected)


def test_text_search_prefix_phrase_and_filters(store: EventStore, real_events: list[ExecEvent]) -> None:
    chain = list(search(store.conn, SearchQuery(text=("exec_ch*",))))
    assert chain and all(b"exec_chain" in b" ".join(e.argv or ()) for e in chain)
    assert list(search(store.conn, SearchQuery(text=("chain_exec",)))) == []  # a phrase keeps its order
    failed = list(search(store.conn, SearchQuery(EventFilter(success=False), text=("gcc",))))
    assert failed and all(not e.success and "gcc" in (e.path or "") for e in failed)
    limited = list(search(store.conn, SearchQuery(text=("exec_chain",), limit=3, newest_first=True)))
    assert limited == chain[::-1][:3]


def test_text_search_ignores_case_and_accents(store: EventStore) -> None:
    found = {e.argv[1] for e in search(store.conn, SearchQuery(text=("HELLO", "world"))) if e.argv}
    assert found == {b"hello world", "héllo wörld".encode()}


def test_fts_query_quotes_words() -> None:
    assert fts_query(['/tmp/evil.sh "x" curl*']) == '"/tmp/evil.sh" AND """x""" AND "curl" *'
    with pytest.raises(UsageError):
        fts_query(["-- ||"])


def test_sessions_and_timeline(store: EventStore, real_events: list[ExecEvent]) -> None:
    found = sessions(store.conn, EventFilter())
    by_session = collections.Counter((e.ses, e.auid) for e in real_events)
    assert {(s.ses, s.auid): s.events for s in found} == dict(by_session)
    events = list(timeline(store.conn, TimelineQuery(unset_session=True)))
    assert events == _in_time_order([e for e in real_events if e.ses is None])
    assert list(timeline(store.conn, TimelineQuery(session=12345))) == []


def test_report_counts(store: EventStore, real_events: list[ExecEvent]) -> None:
    result = report(store.conn, top=5)
    assert result.total == len(real_events)
    assert result.failed == sum(not e.success for e in real_events)
    exes = collections.Counter(e.exe for e in real_events if e.success)
    assert [x.count for x in result.top_exes] == sorted(exes.values(), reverse=True)[:5]
    assert result.top_users[0].uid == 0 and result.top_users[0].name == "root"
    failures = collections.Counter((e.path, e.exit) for e in real_events if not e.success)
    top = result.failures[0]
    assert failures[(top.path, top.exit)] == top.count == max(failures.values())
    assert top.errno == errno.errorcode[-top.exit]
    assert sum(h.count for h in result.per_hour) == len(real_events)
    assert {w.program for w in result.writable} >= {
        e.exe for e in real_events if e.success and e.exe and e.exe.startswith("/tmp/")
    }
    first_seen = {f.exe: f.first for f in report(store.conn, top=1000).first_seen}
    for exe, first in first_seen.items():
        assert first == min(e.time for e in real_events if e.success and e.exe == exe)


def test_report_first_seen_only_counts_new_executables(
    store: EventStore, real_events: list[ExecEvent]
) -> None:
    cut = sorted(e.time for e in real_events)[len(real_events) // 2]
    result = report(store.conn, EventFilter(start=cut), top=1000)
    seen_before = {e.exe for e in real_events if e.success and e.time < cut}
    assert result.first_seen and all(f.exe not in seen_before for f in result.first_seen)
    assert result.total == sum(e.time >= cut for e in real_events)


@pytest.mark.parametrize(
    ("program", "place"),
    [("/tmp/x", "/tmp"), ("/dev/shm/a/b", "/dev/shm"), ("/var/tmp/y", "/var/tmp"),
     ("/home/u/.cache/x", "hidden directory"), ("/memfd:x (deleted)", "memfd"), ("/usr/bin/ls", None),
     ("/home/u/.profile", None), ("../x", None)],
)  # fmt: skip
def test_place_of(program: str, place: str | None) -> None:
    assert place_of(program) == place


def test_readonly_store_of_a_path(store: EventStore) -> None:
    assert isinstance(store.path, Path) and store.readonly
