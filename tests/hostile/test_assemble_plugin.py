"""The audisp plugin stream: a line longer than any record is reported and skipped without being
held whole, and every event around it is kept (real log lines fed through a pipe)."""

from __future__ import annotations

import os
import threading
import time

from exectrail.capture.sources import MAX_LINE_BYTES, PluginSource
from exectrail.model import Diagnostics, Record
from exectrail.parse.record import parse_block
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
