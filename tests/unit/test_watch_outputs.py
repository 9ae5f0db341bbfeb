"""What ``watch`` does with events and alarms besides showing them: the store thread, the sinks, the
heartbeats - without the kernel."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exectrail.capture.outputs import WatchOutputs
from exectrail.capture.storefeed import StoreFeeder
from exectrail.model import Alarm, Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from exectrail.sinks import SinkRun, SinkSet
from exectrail.store import EventStore, StoreError
from exectrail.store.alarms import read_alarms
from tests.support.paths import DATA

LOG = DATA / "workload_enriched.log"
ALARM = Alarm("rules-removed", datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "2 procmon exec rules deleted")


@pytest.fixture(scope="module")
def events() -> list[ExecEvent]:
    return list(read_exec_events([LOG], Diagnostics()))[:200]


class Writer:
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def write(self, event: ExecEvent) -> None:
        pass

    def write_alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)

    def close(self) -> None:
        pass


def test_store_feeder_stores_events_and_alarms(tmp_path: Path, events: list[ExecEvent]) -> None:
    notes: list[str] = []
    feeder = StoreFeeder(tmp_path / "e.db", notes.append, interval=0.05)
    for event in events:
        feeder.add(event)
    feeder.add_alarm(ALARM)
    feeder.close()
    assert (feeder.stored, feeder.alarms, feeder.failed, notes) == (len(events), 1, 0, [])
    with EventStore(tmp_path / "e.db", readonly=True) as store:
        assert store.count() == len(events)
    assert [a.kind for a in read_alarms(tmp_path / "e.db")] == ["rules-removed"]
    assert feeder.summary() == f"store {tmp_path / 'e.db'}: {len(events)} events stored, 1 alarm"


def test_a_failing_batch_is_counted_told_once_and_storing_goes_on(
    tmp_path: Path, events: list[ExecEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    notes: list[str] = []
    feeder = StoreFeeder(tmp_path / "e.db", notes.append, interval=3600)
    real_flush = feeder.writer.flush
    failures = iter([True, True])

    def flaky() -> int:
        if next(failures, False):
            feeder.writer.discard()
            raise StoreError("disk full")
        return real_flush()

    monkeypatch.setattr(feeder.writer, "flush", flaky)
    for batch in (events[:50], events[50:60], events[60:]):
        for event in batch:
            feeder.add(event)
        feeder._drain()  # one round of the thread, here
    feeder.close()
    assert feeder.failed == 60 and feeder.stored == len(events) - 60
    assert notes == [f"store {tmp_path / 'e.db'}: disk full: 50 events not stored (capture goes on)"]
    assert "NOT STORED: 60 events" in feeder.summary()


def test_outputs_fan_out_and_heartbeats(tmp_path: Path, events: list[ExecEvent]) -> None:
    out = tmp_path / "sink.jsonl"
    sinks = SinkRun(SinkSet.from_urls([f"jsonl://{out}"], tmp_path / "spool", host="h1"), wait=5.0)
    store = StoreFeeder(tmp_path / "e.db", lambda text: None, interval=0.05)
    writer = Writer()
    outputs = WatchOutputs(writer, store, sinks, heartbeat=0.5)
    record = outputs.record
    assert record is not None
    with sinks:
        outputs.start("daemon", lambda: {"events": len(events)})
        for event in events:
            record(event)
        outputs.alarm(ALARM)
        outputs.idle()  # not due yet: nothing
        time.sleep(0.6)
        outputs.idle()
        outputs.stopped()
    received = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [o["type"] for o in received]
    assert kinds.count("exec") == len(events) and kinds.count("alarm") == 1
    beats = [o for o in received if o["type"] == "heartbeat"]
    assert [b["state"] for b in beats] == ["started", "running", "stopped"]
    counters = beats[-1]["counters"]
    assert counters.pop("uptime_s") >= 0
    assert counters == {"events": len(events), "alarms": 1, "stored": len(events)}
    assert {b["host"] for b in beats} == {"h1"} and len({b["id"] for b in beats}) == 3
    assert writer.alarms == [ALARM] and not outputs.failed
    assert outputs.close_store() == f"store {tmp_path / 'e.db'}: {len(events)} events stored, 1 alarm"


def test_nothing_to_record_without_store_or_sink() -> None:
    outputs = WatchOutputs(Writer(), None, SinkRun(None, 0.0), heartbeat=60)
    assert outputs.record is None and outputs.heartbeat == 0 and outputs.close_store() is None
