"""The RELP frame codec (sinks/relpframe.py): golden bytes from librelp's documentation and source,
round trips, and garbage that must become a one-line FrameError (never another exception, never a hang)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.sinks.relpframe import (
    MAX_TXNR,
    Frame,
    FrameError,
    FrameReader,
    encode,
    parse_offers,
    parse_rsp,
)

# What imrelp (librelp 1.11) sent in a session recorded while writing this sink.
OPEN_RSP = b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n"


def read_all(data: bytes, max_data: int = 1 << 16, step: int = 0) -> list[Frame]:
    reader = FrameReader(max_data)
    frames = []
    chunks = [data] if step == 0 else [data[i : i + step] for i in range(0, len(data), step)]
    for chunk in chunks:
        reader.feed(chunk)
        while (frame := reader.next()) is not None:
            frames.append(frame)
    assert reader.buffered == 0
    return frames


def test_golden_encodings() -> None:
    assert encode(2, "close") == b"2 close 0\n"
    assert encode(7, "syslog", b"<86>1 - x") == b"7 syslog 9 <86>1 - x\n"
    assert encode(0, "serverclose") == b"0 serverclose 0\n"
    assert encode(MAX_TXNR, "syslog", b"\n") == b"999999999 syslog 1 \n\n"


@pytest.mark.parametrize(
    ("txnr", "command", "data"),
    [(-1, "syslog", b""), (MAX_TXNR + 1, "syslog", b""), (1, "sys log", b""), (1, "", b""),
     (1, "a" * 33, b""), (1, "sysl0g", b""), (1, "sÿslog", b"")],
)  # fmt: skip
def test_encoding_refuses_what_the_protocol_cannot_carry(txnr: int, command: str, data: bytes) -> None:
    with pytest.raises(ValueError):
        encode(txnr, command, data)


def test_golden_decodings() -> None:
    frames = read_all(OPEN_RSP + b"2 rsp 6 200 OK\n0 serverclose 0\n")
    assert frames[1:] == [Frame(2, "rsp", b"200 OK"), Frame(0, "serverclose")]
    status, text, offers = parse_rsp(frames[0].data)
    assert (frames[0].txnr, frames[0].command, status, text) == (1, "rsp", 200, "OK")
    assert parse_offers(offers) == {
        "relp_version": ["0"], "relp_software": ["librelp", "1.11.0", "http://librelp.adiscon.com"],
        "commands": ["syslog"],
    }  # fmt: skip
    assert parse_rsp(b"500 command disabled") == (500, "command disabled", b"")
    assert parse_rsp(b"200") == (200, "", b"")


@given(
    frames=st.lists(
        st.tuples(
            st.integers(0, MAX_TXNR),
            st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_size=1,
                    max_size=32),
            st.binary(max_size=300),
        ),
        max_size=8,
    ),
    step=st.integers(0, 17),
)  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_round_trip_in_any_chunking(frames: list[tuple[int, str, bytes]], step: int) -> None:
    wire = b"".join(encode(*frame) for frame in frames)
    assert read_all(wire, step=step) == [Frame(*frame) for frame in frames]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"1234567890 rsp 6 200 OK\n", "malformed RELP frame header"),  # 10-digit txnr
        (b"1 rsp 1234567890 x\n", "malformed RELP frame header"),  # 10-digit datalen
        (b"1 r5p 6 200 OK\n", "malformed RELP frame header"),
        (b"1 rsp\n", "malformed RELP frame header"),
        (b"HTTP/1.1 400 Bad Request\r\n", "malformed RELP frame header"),
        (b"1 rsp 6 200 OKX", "not ended by LF"),
        (b"1 rsp 0 \n", "not ended by LF"),
        (b"1 rsp 6\n", "without a space before its data"),
        (b"1 rsp 70000 ", "announces 70000 bytes"),
        (b"1  rsp 6 200 OK\n", "malformed RELP frame header"),
        (b"-1 rsp 6 200 OK\n", "malformed RELP frame header"),
    ],
)
def test_malformed_frames_are_one_line_errors(wire: bytes, reason: str) -> None:
    reader = FrameReader(1 << 16)
    reader.feed(wire)
    with pytest.raises(FrameError) as info:
        reader.next()
    assert reason in str(info.value) and "\n" not in str(info.value)
    assert "\\\\" not in str(info.value)  # escaped once, not twice


def test_an_oversized_frame_is_refused_before_its_data_arrives() -> None:
    reader = FrameReader(100)
    reader.feed(b"1 rsp 101 ")
    with pytest.raises(FrameError, match="announces 101 bytes"):
        reader.next()


def test_rsp_without_status_code() -> None:
    with pytest.raises(FrameError, match="without a status code"):
        parse_rsp(b"OK 200")
    assert parse_rsp(b"500 \x1b[31mred\x00") == (500, "?[31mred?", b"")


@given(st.binary(max_size=200))
@settings(max_examples=500, deadline=None)
def test_garbage_is_a_frame_error_or_frames_never_another_exception(data: bytes) -> None:
    reader = FrameReader(1 << 10)
    reader.feed(data)
    try:
        while (frame := reader.next()) is not None:
            assert 0 <= frame.txnr <= MAX_TXNR and frame.command.isalpha() and len(frame.data) <= 1 << 10
            if frame.command == "rsp":
                parse_rsp(frame.data)
    except FrameError as exc:
        assert "\n" not in str(exc)
