"""Property: damage to some lines of a real log changes nothing for the events next to it.

Each example takes a window of a real captured log (tests/data), damages the lines of some events
(removed, duplicated, truncated, bytes flipped, NULs, non-UTF-8, CRLF, out-of-range numbers, a
clock step, split in two, moved elsewhere) and puts garbage lines between lines, writes the result
as a plain, gzip, multi-member gzip or zero-padded gzip file, and reads it with the real reader,
assembler and store writer. Nothing may raise, every bad line is counted, and every exec event
whose lines were left untouched comes out exactly as from the clean log -- from the reader and
back from the store.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.model import Diagnostics, ExecEvent
from exectrail.parse.logfile import ReadStats, read_records
from exectrail.pipeline import exec_events
from exectrail.store import EventStore
from exectrail.store.codec import COLUMNS
from exectrail.store.reader import fetch_events
from exectrail.store.verify import verify
from tests.support.context import check_parents, without_stream_context
from tests.support.damage import (
    BASE_LOGS,
    FILE_FORMS,
    HUGE_NUMBERS,
    as_file_bytes,
    corpus,
    damage,
    deflate_garbage,
    identity_of,
)

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Words that only Python's own exception messages use: a diagnostic must be in the user's words.
PYTHON_TEXT = re.compile(
    r"Traceback|invalid literal for|object has no attribute|codec can't|unsupported operand|"
    r"out of range for|Error\(|list index|index out of|NoneType|int too large|must be|errno \d"
)


def read_file(path: Path) -> tuple[list[ExecEvent], Diagnostics, ReadStats]:
    diagnostics, stats = Diagnostics(), ReadStats()
    events = list(exec_events(read_records([path], diagnostics, stats), diagnostics))
    return events, diagnostics, stats


def check_diagnostics(diagnostics: Diagnostics) -> None:
    for sample in diagnostics.samples:
        assert not PYTHON_TEXT.search(sample.reason), f"Python text in a diagnostic: {sample}"
        assert sample.kind and sample.reason


def check_sane(events: list[ExecEvent]) -> None:
    for event in events:
        assert event.syscall in ("execve", "execveat", None)
        assert event.argv is None or all(isinstance(a, bytes) for a in event.argv)


def check_intact(
    events: list[ExecEvent],
    intact: dict[tuple[str, int, int, int], ExecEvent],
    stream: list[ExecEvent] | None = None,
) -> None:
    """Each intact event comes out once and decodes as it did undamaged; every parent named is an
    earlier exec of ``stream`` (default: ``events``)."""
    seen = Counter(identity_of(e) for e in events)
    by_identity = {identity_of(e): e for e in events}
    for ident, expected in intact.items():
        assert seen[ident] == 1, f"intact event {ident} came out {seen[ident]} times"
        # its parent link may go with a damaged neighbour (the parent's exec), never to a wrong one
        got = by_identity[ident]
        assert without_stream_context(got) == without_stream_context(expected), (
            f"intact event {ident} decoded differently"
        )
        assert got.parent_exec_id in (expected.parent_exec_id, None) or got.parent_exec_id in {
            e.exec_id for e in events
        }
    check_parents(events if stream is None else stream)


def store_round_trip(events: list[ExecEvent], directory: Path) -> list[ExecEvent]:
    """Store ``events`` in a new store; return what it reads back (and check its chain)."""
    path = directory / "events.db"
    with EventStore(path) as store, store.writer() as writer:
        for event in events:
            writer.add(event)
    with EventStore(path, readonly=True) as store:
        result = verify(store.conn)
        assert result.problem is None, f"a fresh store fails verify: {result.problem}"
        sql = "SELECT " + ", ".join(COLUMNS) + " FROM events ORDER BY seq"
        return list(fetch_events(store.conn, sql))


@pytest.mark.parametrize("log", BASE_LOGS)
@given(rng=st.randoms(use_true_random=False), form=st.sampled_from(FILE_FORMS))
@settings(FUZZ, max_examples=100)
def test_intact_events_next_to_damaged_lines_decode_exactly(
    log: str, rng: random.Random, form: str, tmp_path: Path
) -> None:
    damaged = damage(corpus(log), rng)
    path = tmp_path / f"damaged-{form}.log"
    path.write_bytes(as_file_bytes(damaged.data, form, rng))
    events, diagnostics, _ = read_file(path)
    check_sane(events)
    check_intact(events, damaged.intact)
    check_diagnostics(diagnostics)
    if damaged.garbage_lines:
        assert diagnostics.total >= 1, "garbage lines were not counted"


@pytest.mark.parametrize("log", BASE_LOGS)
@given(rng=st.randoms(use_true_random=False))
@settings(FUZZ, max_examples=20)
def test_the_store_keeps_what_the_reader_gives_from_a_damaged_log(
    log: str, rng: random.Random, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("store")
    damaged = damage(corpus(log), rng, ratio=0.5)
    path = directory / "damaged.log"
    path.write_bytes(damaged.data)
    events, _, _ = read_file(path)
    stored = store_round_trip(events, directory)
    first = {identity_of(e): e for e in reversed(events)}  # the store keeps the first of duplicates
    assert {identity_of(e) for e in stored} == set(first)
    for event in stored:
        assert event == first[identity_of(event)]
    # A damaged log can split one exec's records into two events with one identity (an incomplete
    # one, and its SYSCALL alone or elsewhere); the store keeps the first, so a child's parent may be
    # the copy it did not keep: the parents are checked against what the reader gave, and the
    # parent's identity (its exec id) must be stored.
    check_intact(stored, damaged.intact, stream=events)
    stored_ids = {e.exec_id for e in stored}
    assert all(e.parent_exec_id in stored_ids for e in stored if e.parent_exec_id is not None)


@pytest.mark.parametrize("log", BASE_LOGS)
@given(rng=st.randoms(use_true_random=False))
@settings(FUZZ, max_examples=10)
def test_a_crlf_log_decodes_like_the_original(log: str, rng: random.Random, tmp_path: Path) -> None:
    source = corpus(log)
    start = rng.randrange(len(source.lines) - 50)
    lines = source.lines[start : start + rng.randint(50, 400)]
    plain, crlf = tmp_path / "lf.log", tmp_path / "crlf.log"
    plain.write_bytes(b"".join(lines))
    crlf.write_bytes(b"".join(line[:-1] + b"\r\n" for line in lines))
    expected, _, _ = read_file(plain)
    events, _, _ = read_file(crlf)
    assert events == expected


@pytest.mark.parametrize("log", BASE_LOGS)
@given(rng=st.randoms(use_true_random=False))
@settings(FUZZ, max_examples=10)
def test_events_of_two_nodes_sharing_time_and_serial_stay_apart(
    log: str, rng: random.Random, tmp_path: Path
) -> None:
    """The same records under another ``node=`` name (two hosts' logs merged) are other events."""
    source = corpus(log)
    count = rng.randint(2, 30)
    start = rng.randrange(source.event_count - count)
    window = range(start, start + count)
    mine = [line for line, owner in zip(source.lines, source.owner, strict=True) if owner in window]
    theirs = [re.sub(rb"^(node=\S+ )?", b"node=peer-host ", line) for line in mine]
    merged: list[bytes] = []
    while mine or theirs:  # interleave, each side keeping its own order
        side = mine if (mine and (not theirs or rng.random() < 0.5)) else theirs
        merged.append(side.pop(0))
    path = tmp_path / "merged.log"
    path.write_bytes(b"".join(merged))
    events, diagnostics, _ = read_file(path)
    expected = [
        source.expected[source.identities[i]] for i in window if source.identities[i] in source.expected
    ]
    by_identity = {identity_of(e): e for e in events}
    assert len(events) == 2 * len(expected), diagnostics.counts
    for event in expected:  # a window of the log: parents outside it are not known
        assert without_stream_context(by_identity[identity_of(event)]) == without_stream_context(event)
        peer = by_identity[("peer-host", *identity_of(event)[1:])]
        assert peer.node == "peer-host"
        assert peer.argv == event.argv and peer.pid == event.pid and peer.cwd == event.cwd
        assert peer.exec_id != event.exec_id  # another host's exec: another id
    check_parents(events)  # each host's parents are its own


@given(data=st.binary(max_size=4096), form=st.sampled_from(("plain", "gzip", "deflate-garbage")))
@settings(FUZZ, max_examples=150)
def test_random_bytes_never_raise(data: bytes, form: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("random") / "random.bin"
    if form == "gzip":
        path.write_bytes(as_file_bytes(data, "gzip", random.Random(0))[: len(data) // 2 + 10])
    elif form == "deflate-garbage":
        path.write_bytes(deflate_garbage(data))
    else:
        path.write_bytes(data)
    events, diagnostics, stats = read_file(path)
    check_sane(events)
    check_diagnostics(diagnostics)
    assert all("Error" not in problem for problem in stats.problems)


_NUMBER_SPOTS = {  # where an out-of-range number goes in a SYSCALL line
    "time": rb"(?<=audit\()\d+",
    "serial": rb"(?<=:)\d+(?=\))",
    "pid": rb"(?<= pid=)\d+",
    "ppid": rb"(?<= ppid=)\d+",
    "uid": rb"(?<= uid=)\d+",
    "ses": rb"(?<= ses=)\d+",
    "exit": rb"(?<= exit=)-?\d+",
}


@pytest.mark.parametrize("spot", sorted(_NUMBER_SPOTS))
def test_out_of_range_numbers_spare_the_other_events_and_the_store(spot: str, tmp_path: Path) -> None:
    """A 17-digit time, a year past 9999, a serial >= 2**63 ...: a diagnostic at most, the events
    around it unchanged, and the store takes whatever the reader gives."""
    source = corpus("workload_enriched.log")
    target = next(i for i, line in enumerate(source.lines) if b" syscall=59 " in line and i > 100)
    victim = source.owner[target]
    inside = range(target - 60, target + 60)
    cut = {o for i, o in enumerate(source.owner) if i not in inside}  # events with lines outside
    intact = {
        source.identities[o]: source.expected[source.identities[o]]
        for o in set(source.owner[target - 60 : target + 60]) - cut - {victim}
        if source.identities[o] in source.expected
    }
    assert intact
    for number in HUGE_NUMBERS:
        lines = list(source.lines[target - 60 : target + 60])
        lines[60] = re.sub(_NUMBER_SPOTS[spot], number, lines[60], count=1)
        assert lines[60] != source.lines[target]
        path = tmp_path / "numbers.log"
        path.write_bytes(b"".join(lines))
        events, diagnostics, _ = read_file(path)
        check_diagnostics(diagnostics)
        check_intact(events, intact)
        directory = tmp_path / number.decode()
        directory.mkdir()
        try:
            stored = store_round_trip(events, directory)
        except sqlite3.Error as exc:
            pytest.fail(f"the store refused a decoded event ({spot}={number.decode()}): {exc}")
        assert len(stored) == len({identity_of(e) for e in events})
