"""Rows ↔ events: every field survives the store, whatever the bytes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from exectrail.model import ExecEvent
from exectrail.store import codec


def test_real_events_round_trip(real_events: list[ExecEvent]) -> None:
    assert len(real_events) > 500
    for event in real_events:
        assert codec.row_to_event(codec.event_to_row(event)) == event


def test_non_utf8_text_is_stored_as_blob_and_comes_back() -> None:
    odd = b"/tmp/\xff\xfe dir".decode("utf-8", "surrogateescape")
    assert codec.store_text(odd) == b"/tmp/\xff\xfe dir"
    assert codec.store_text("/usr/bin/ls") == "/usr/bin/ls"
    assert codec.store_text("/tmp/é") == "/tmp/é"
    assert codec.load_text(codec.store_text(odd)) == odd


@given(st.one_of(st.none(), st.lists(st.binary(max_size=20), max_size=8).map(tuple)))
def test_argv_round_trips_any_bytes(argv: tuple[bytes, ...] | None) -> None:
    blob = codec.pack_argv(argv)
    assert codec.unpack_argv(blob) == argv
    if argv is not None:
        assert codec.argv_line(blob) == b" ".join(argv)


def test_argv_encodings_are_distinct() -> None:
    assert codec.pack_argv(None) is None
    assert codec.pack_argv(()) == b""
    assert codec.pack_argv((b"",)) == b"\0"
    assert codec.pack_argv((b"a", b"")) == b"a\0\0"
    packed = codec.pack_argv((b"a\0b",))
    assert packed is not None and packed[-1:] == b"\x01"  # NUL inside an argument: length-prefixed


def test_search_text_is_command_line_or_path(real_events: list[ExecEvent]) -> None:
    ok = next(e for e in real_events if e.argv)
    failed = next(e for e in real_events if e.argv is None)
    assert codec.search_text(ok) == b" ".join(ok.argv or ()).decode("utf-8", "replace")
    assert codec.search_text(failed) == failed.path
    assert codec.search_text(replace(failed, path=None, time=datetime.now(UTC))) == ""
