"""The spool only ever sends what it wrote, once: delivered batch files are deleted (a restart sends
nothing again) and a batch without this spool's HMAC is never sent (issue 11, items 4 and 9)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from exectrail.sinks import Tuning, read_sink_status
from exectrail.sinks import spool as spool_module
from exectrail.sinks.forwarder import Forwarder
from exectrail.sinks.spool import HEADER, Spool
from tests.support.fake_sinks import FakeSink, HungSink, messages, run, wait_for


def ids(start: int, stop: int) -> list[str]:
    return [m.id for m in messages(stop - start, start=start)]


def test_delivered_spool_files_are_deleted_and_a_restart_sends_nothing_again(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "connection refused"
    run(sink, tmp_path, messages(120), wait=0.05)  # an outage: everything ends in the spool
    spooled = sorted(tmp_path.glob("*.batch"))
    assert sum(int(p.stem.split("-")[1]) for p in spooled) == 120 and sink.received == []
    sink.down = None
    forwarder, warnings = run(sink, tmp_path, messages(30, start=120))  # the next start
    assert sink.received == ids(0, 150)
    assert any("120 events left from an earlier run are sent first" in w for w in warnings)
    assert list(tmp_path.glob("*.batch")) == [] and forwarder.spool.events == 0
    forwarder, warnings = run(sink, tmp_path, [])  # and the one after: nothing is left to resend
    assert sink.received == ids(0, 150), "events were sent a second time"
    assert warnings == [] and forwarder.delivered == 0


def test_batches_spilled_behind_a_hung_receiver_are_deleted_once_delivered(tmp_path: Path) -> None:
    sink = HungSink()
    tuning = Tuning(batch_events=10, memory_bytes=400, linger=0.01, state_interval=0.0)
    forwarder = Forwarder(sink, Spool(tmp_path, 1 << 30), lambda _: None, tuning)
    for message in messages(200, pad=20):
        forwarder.put(message)
    wait_for(lambda: len(list(tmp_path.glob("*.batch"))) >= 10, "batches to be spilled")
    sink.release.set()
    summary = forwarder.finish_close(time.monotonic() + 10)
    assert (summary.delivered, summary.pending) == (200, 0) and sink.received == ids(0, 200)
    assert list(tmp_path.glob("*.batch")) == []
    run(sink, tmp_path, [])
    assert sink.received == ids(0, 200)


def test_a_batch_is_bound_to_its_name_its_content_and_its_spool_key(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "down"
    run(sink, tmp_path / "a", messages(30), wait=0.05)
    run(sink, tmp_path / "b", messages(1, start=900), wait=0.05)
    first, second, _untouched = sorted((tmp_path / "a").glob("*.batch"))
    assert first.read_bytes().startswith(HEADER)
    # renamed: a replay of an old batch under a later sequence number
    first.rename(tmp_path / "a" / "0000000000000099-10.batch")
    # altered: one message changed
    second.write_bytes(second.read_bytes().replace(b'"m000010"', b'"m000666"'))
    # copied from another spool (another key)
    [foreign] = (tmp_path / "b").glob("*.batch")
    foreign.rename(tmp_path / "a" / "0000000000000050-1.batch")
    spool = Spool(tmp_path / "a", 1 << 30)  # checked on opening: the backlog is the real one
    assert (spool.events, len(spool.entries), len(spool.rejected)) == (10, 1, 3)
    spool.close()
    sink.down = None
    forwarder, warnings = run(sink, tmp_path / "a", [])
    assert sink.received == ids(20, 30), "only the untouched batch is sent"
    rejected = sorted(
        w.split(": spool file rejected: ")[1].split(":")[0] for w in warnings if "rejected" in w
    )
    names = ("0000000000000099-10.batch", second.name, "0000000000000050-1.batch")
    assert rejected == sorted(str(tmp_path / "a" / name) for name in names)
    assert all(
        "wrong signature (not written by this spool, or altered)" in w for w in warnings if "rejected" in w
    )
    assert len(forwarder.rejected) == 3 and forwarder.spool.events == 0
    assert len(list((tmp_path / "a").glob("*.batch"))) == 3, "evidence stays in place"


def test_a_batch_altered_while_it_waits_is_not_sent(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "down"
    warnings: list[str] = []
    tuning = Tuning(batch_events=10, memory_bytes=1, retry_initial=0.01, retry_max=0.02, linger=0.01)
    forwarder = Forwarder(sink, Spool(tmp_path, 1 << 30), warnings.append, tuning)
    for message in messages(30):
        forwarder.put(message)
    wait_for(lambda: forwarder.status()["spool_events"] == 30, "the outage to move everything to the spool")
    first = sorted(tmp_path.glob("*.batch"))[0]
    altered = tmp_path / "altered"  # swapped in whole, so the sender never reads a half-written file
    altered.write_bytes(first.read_bytes().replace(b'"m000003"', b'"m000999"'))
    altered.replace(first)
    wait_for(lambda: bool(forwarder.rejected), "the sender to read the altered batch again")
    sink.down = None
    summary = forwarder.finish_close(time.monotonic() + 5)
    assert sink.received == ids(10, 30) and summary.pending == 0
    assert forwarder.rejected == [f"{first}: wrong signature (not written by this spool, or altered); "
                                  "not forwarded, left in place"]  # fmt: skip
    assert first.exists() and any(f"spool file rejected: {first}" in w for w in warnings)


def test_a_planted_file_name_cannot_hide_or_break_the_report(tmp_path: Path) -> None:
    """A name with terminal escapes and a byte that is not UTF-8: shown escaped, state still written."""
    spool = tmp_path / "sink"
    run(FakeSink(), spool, [])
    (spool / os.fsdecode(b"\xff\x1b[2K\x1b[1A0000000000000001-5.batch")).write_bytes(b"{}\n")
    sink = FakeSink()
    _, warnings = run(sink, spool, messages(5))
    assert sink.received == ids(0, 5)
    shown = f"{spool}/\\xff\\x1b[2K\\x1b[1A0000000000000001-5.batch"
    assert warnings == [
        f"sink fake://receiver: spool file rejected: {shown}: not a spool file; not forwarded, left in place"
    ]
    [state] = read_sink_status(tmp_path)
    assert state["spool_rejected"] == 1 and state["spool_rejected_files"][0].startswith(shown)


def test_an_oversized_batch_file_is_rejected_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "MAX_BATCH_FILE", 1000)
    sink = FakeSink()
    sink.down = "down"
    run(sink, tmp_path, messages(10, pad=200), wait=0.05)  # one genuine batch of about 2.5 KB
    [batch] = tmp_path.glob("*.batch")
    spool = Spool(tmp_path, 1 << 30)
    size = batch.stat().st_size
    assert spool.entries == [] and spool.rejected == [
        f"{batch}: {size} bytes, more than any batch exectrail writes; not forwarded, left in place"
    ]
    spool.close()
