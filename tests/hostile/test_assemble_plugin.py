"""The audisp plugin stream: a line longer than any record is reported and skipped without being
held whole, and every event around it is kept (real log lines fed through a pipe)."""

from __future__ import annotations

import fcntl
import io
import os
import threading
import time
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.capture import sources
from exectrail.capture.sources import PluginSource
from exectrail.model import Diagnostics, Record
from exectrail.parse import logfile
from exectrail.parse.logfile import MAX_LINE_BYTES
from exectrail.parse.record import MalformedRecord, parse_block
from exectrail.pipeline import exec_events
from tests.support.paths import DATA

LOG = DATA / "workload_enriched.log"


def feed(data: bytes, write_fd: int) -> None:
    with os.fdopen(write_fd, "wb") as pipe:
        pipe.write(data)


def drain(source: PluginSource) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + 30
    while not source.ended and time.monotonic() < deadline:
        records += source.poll(0.05)
    return records + source.poll(0)


def test_an_overlong_plugin_line_is_skipped_and_the_events_around_it_kept() -> None:
    lines = LOG.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    overlong = b"type=EXECVE msg=audit(1795618246.882:999999): a0=" + b"41" * (3 * MAX_LINE_BYTES) + b"\n"
    read_fd, write_fd = os.pipe()
    diagnostics = Diagnostics()
    with os.fdopen(read_fd, "rb") as stream:
        source = PluginSource(stream, diagnostics)
        writer = threading.Thread(
            target=feed, args=(b"".join([*lines[:half], overlong, *lines[half:]]), write_fd)
        )
        writer.start()
        records = drain(source)
        writer.join()
    assert diagnostics.counts == {"line-too-long": 1}
    (sample,) = diagnostics.samples
    assert sample.origin == f"stdin:{half + 1}" and "Traceback" not in sample.reason
    assert source.lines == len(lines) + 1
    expected = list(exec_events(parse_block(b"".join(lines), lambda *_: None), Diagnostics()))
    assert list(exec_events(records, Diagnostics())) == expected
    assert len(expected) > 200


BOUND = 4096  # the line bound in the property test below (real lines are shorter; some drawn ones not)
REAL_LINES = [line for line in LOG.read_bytes().split(b"\n") if 0 < len(line) < BOUND]


class Chunks:
    """A pipe whose reads return the chosen sizes (at most what is asked), then the rest."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._sizes, self._at = data, iter(sizes), 0

    def read1(self, size: int) -> bytes:
        size = min(size, next(self._sizes, size))
        piece = self._data[self._at : self._at + size]
        self._at += len(piece)
        return piece

    def fileno(self) -> int:
        raise io.UnsupportedOperation("not a file")


def _keep(into: list[MalformedRecord], _index: int, _line: bytes, error: MalformedRecord) -> None:
    into.append(error)


def one_by_one(data: bytes) -> tuple[list[Record], list[tuple[str, str]]]:
    """The reference: each line on its own (a last one without newline too), numbered from 1."""
    pieces = data.split(b"\n")
    if not pieces[-1]:
        pieces.pop()
    records: list[Record] = []
    found: list[tuple[str, str]] = []
    for number, line in enumerate(pieces, 1):
        if len(line) > BOUND:
            found.append(("line-too-long", f"stdin:{number}"))
            continue
        bad: list[MalformedRecord] = []
        records += parse_block(line + b"\n", partial(_keep, bad))
        found += [(error.kind, f"stdin:{number}") for error in bad]
    return records, found


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(REAL_LINES).map(lambda line: line + b"\n"),
            st.sampled_from([b"\n", b"\r\n", b"garbage\n", b'type=EXECVE msg=audit(1.2:3): a0="x"\r\n']),
            st.integers(BOUND - 35, BOUND - 31).map(  # lines of BOUND - 2 … BOUND + 2 bytes
                lambda n: b"type=EXECVE msg=audit(1.2:3): a0=" + b"4" * n + b"\n"
            ),
            st.binary(max_size=40),
        ),
        max_size=40,
    ),
    st.lists(st.integers(1, 3 * BOUND), max_size=60),
)
def test_plugin_stream_read_in_any_pieces_is_read_line_by_line(parts: list[bytes], sizes: list[int]) -> None:
    """However the pipe hands out the bytes, the same records, the same diagnostics at the same
    lines, and every line counted, as reading each line on its own."""
    data = b"".join(parts)
    diagnostics = Diagnostics()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logfile, "BLOCK_SIZE", BOUND)
        patch.setattr(logfile, "MAX_LINE_BYTES", BOUND)
        patch.setattr(sources, "BATCH_DELAY", 0)
        source = PluginSource(Chunks(data, sizes), diagnostics)  # type: ignore[arg-type]
        records = drain(source)
    expected, found = one_by_one(data)
    assert records == expected
    assert [(d.kind, d.origin) for d in diagnostics.samples] == found[: len(diagnostics.samples)]
    assert diagnostics.total == len(found)
    assert source.lines == len(data.split(b"\n")) - (not data.split(b"\n")[-1])


def test_plugin_pipe_is_grown_to_hold_a_burst() -> None:
    """The reader sleeps between reads so that records gather: the pipe must hold them meanwhile."""
    read_fd, write_fd = os.pipe()
    try:
        before = fcntl.fcntl(read_fd, fcntl.F_GETPIPE_SZ)
        with os.fdopen(read_fd, "rb") as stream:
            source = PluginSource(stream, Diagnostics())
            grown = fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ)
            os.close(write_fd)
            drain(source)
    except BaseException:
        os.close(write_fd)
        raise
    assert before < grown == sources.PIPE_BYTES
