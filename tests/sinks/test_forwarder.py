"""Delivery machinery with an in-memory fake sink: order, retries, the spool, its cap, status."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exectrail.errors import ExectrailError
from exectrail.sinks import SinkError, SinkSet, Tuning, read_sink_status
from exectrail.sinks.forwarder import Forwarder
from exectrail.sinks.spool import Spool
from tests.support.ci import skip_or_fail
from tests.support.fake_sinks import FAST, FakeSink, HungSink, messages, run, wait_for


def test_healthy_sink_gets_everything_once_in_order(tmp_path: Path) -> None:
    sink = FakeSink()
    msgs = messages(1234)
    forwarder, warnings = run(sink, tmp_path, msgs)
    assert sink.received == [m.id for m in msgs]
    assert (forwarder.delivered, forwarder.dropped, forwarder.spool.events) == (1234, 0, 0)
    assert warnings == [] and list(tmp_path.glob("*.batch")) == []


def test_outage_then_recovery_keeps_order_and_loses_nothing(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "connection refused"
    tuning = Tuning(batch_events=10, memory_bytes=2000, retry_initial=0.01, retry_max=0.02, linger=0.01)
    warnings: list[str] = []
    forwarder = Forwarder(sink, Spool(tmp_path, 1 << 30), warnings.append, tuning)
    msgs = messages(500)
    for m in msgs[:300]:
        forwarder.put(m)
    assert forwarder.status()["backlog"] == 300
    time.sleep(0.2)
    assert list(tmp_path.glob("*.batch")), "during the outage batches go to the spool"
    sink.down = None
    for m in msgs[300:]:
        forwarder.put(m)
    summary = forwarder.finish_close(time.monotonic() + 5)
    assert sink.received == [m.id for m in msgs]
    assert (summary.delivered, summary.pending, summary.dropped) == (500, 0, 0)
    assert any("connection refused; retrying" in w for w in warnings)
    assert any("delivering again" in w for w in warnings)


def test_spool_cap_drops_with_the_exact_count_and_the_rest_arrives_later(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "receiver down"
    msgs = messages(1000, pad=100)
    tuning = Tuning(batch_events=10, memory_bytes=1, retry_initial=10, linger=0.01)
    forwarder, warnings = run(sink, tmp_path, msgs, tuning, wait=0.2, max_bytes=20_000)
    dropped, pending = forwarder.dropped, forwarder.spool.events
    assert dropped > 0 and pending > 0 and dropped + pending == 1000
    assert any(f"spool full (--spool-max 20000 bytes): {dropped} events dropped" in w for w in warnings)
    assert forwarder.spool.bytes <= 20_000
    sink.down = None  # the next run delivers what the spool kept, in order
    forwarder, warnings = run(sink, tmp_path, [], FAST)
    assert any(f"{pending} events left from an earlier run" in w for w in warnings)
    assert len(sink.received) == pending and sink.received == sorted(sink.received)
    assert set(sink.received) <= {m.id for m in msgs}


def test_leftover_spool_is_sent_before_new_events(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "down"
    run(sink, tmp_path, messages(50), wait=0.05)
    sink.down = None
    run(sink, tmp_path, messages(50, start=50))
    assert sink.received == [m.id for m in messages(100)]


def test_status_file_shows_backlog_and_last_error(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.down = "cannot resolve host 'nowhere.invalid' (Name or service not known)"
    warnings: list[str] = []
    forwarder = Forwarder(sink, Spool(tmp_path / "one", 1 << 30), warnings.append, FAST)
    for m in messages(25):
        forwarder.put(m)
    time.sleep(0.3)
    [state] = read_sink_status(tmp_path)
    assert state["running"] is True and state["sink"] == "fake://receiver"
    assert state["backlog"] == 25 and state["last_error"] == sink.down and state["failing"] is True
    forwarder.finish_close(time.monotonic())
    [state] = read_sink_status(tmp_path)
    assert state["running"] is False and state["backlog"] == 25 and state["spool_events"] == 25


def test_a_spool_is_used_by_one_process_at_a_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1000)
    with pytest.raises(SinkError, match="in use by another exectrail process"):
        Spool(tmp_path, 1000)
    spool.close()


def test_unusable_spool_directory_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ExectrailError, match=r"cannot use spool directory .*file/spool: Not a directory"):
        SinkSet.from_urls([f"jsonl://{tmp_path}/out.jsonl"], tmp_path / "file" / "spool")


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs: a real 'No space left on device' (needs root)."""
    if os.geteuid() != 0:
        skip_or_fail("mounting a tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        skip_or_fail(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_drops_are_counted_and_announced(tiny_fs: Path) -> None:
    sink = FakeSink()
    sink.down = "receiver down"
    msgs = messages(2000, pad=200)
    tuning = Tuning(batch_events=10, memory_bytes=1, retry_initial=10, linger=0.01)
    forwarder, warnings = run(sink, tiny_fs, msgs, tuning, wait=0.1)
    assert forwarder.dropped > 0 and forwarder.dropped + forwarder.spool.events == 2000
    assert any(
        "No space left on device" in w and f"{forwarder.dropped} events dropped" in w for w in warnings
    )
    assert all(
        p.name.endswith(".batch") or p.name in ("lock", "state.json", "hmac.key") for p in tiny_fs.iterdir()
    )
    sink.down = None
    run(sink, tiny_fs, [])
    assert len(sink.received) == 2000 - forwarder.dropped


def test_generic_messages_carry_the_host(tmp_path: Path) -> None:
    sinks = SinkSet.from_urls([f"jsonl://{tmp_path}/out.jsonl"], tmp_path / "spool", host="h1")
    sinks.submit_message({"type": "alarm", "id": "a-1", "kind": "audit-disabled"})
    [summary] = sinks.close()
    assert summary.delivered == 1
    assert (
        tmp_path / "out.jsonl"
    ).read_bytes() == b'{"type":"alarm","id":"a-1","kind":"audit-disabled","host":"h1"}\n'


def test_submit_never_waits_for_a_hung_receiver(tmp_path: Path) -> None:
    sink = HungSink()
    tuning = Tuning(batch_events=100, memory_bytes=50_000, linger=0.01, state_interval=0.0)
    forwarder = Forwarder(sink, Spool(tmp_path, 1 << 30), lambda _: None, tuning)
    msgs = messages(30_000, pad=50)
    slowest = 0.0
    started = time.perf_counter()
    for m in msgs:
        t = time.perf_counter()
        forwarder.put(m)
        slowest = max(slowest, time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    assert elapsed < 3 and slowest < 0.2, (elapsed, slowest)
    wait_for(
        lambda: forwarder.status()["memory_events"] <= 1_000, "the spiller to bring memory under its bound"
    )
    assert forwarder.status()["spool_events"] >= 29_000
    sink.release.set()
    summary = forwarder.finish_close(time.monotonic() + 30)
    assert (summary.delivered, summary.dropped, summary.pending) == (30_000, 0, 0)
    assert sink.received == [m.id for m in msgs]
