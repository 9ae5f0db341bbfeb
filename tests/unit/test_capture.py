"""Live-capture pieces without the kernel: sources, the watch loop, the journal, the monitor."""

from __future__ import annotations

import io
import struct
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest

from exectrail.capture import journal as journal_mod
from exectrail.capture.monitor import KernelMonitor
from exectrail.capture.session import Capture
from exectrail.capture.sources import NetlinkSource, PluginSource
from exectrail.capture.watch import Limits, Watch
from exectrail.filters import EventFilter
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.netlink.wire import AuditStatus
from exectrail.model import Alarm, Diagnostics, ExecEvent, Record
from exectrail.parse.logfile import read_records
from exectrail.pipeline import EventBuilder
from tests.support.paths import CAPTURED_LOGS

KEY = b"audit(1732500000.123:4567): "
EXEC_RECORDS = [
    (1300, b'arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=1 pid=42 '
           b'auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="ls" '
           b'exe="/usr/bin/ls" subj=unconfined key="procmon"'),
    (1309, b'argc=2 a0="ls" a1=2D6C612062'),
    (1307, b'cwd="/root"'),
    (1302, b'item=0 name="/usr/bin/ls" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 '
           b'nametype=NORMAL'),
    (1327, b"proctitle=6C73"),
    (1320, b""),
]  # fmt: skip


def datagram(msg_type: int, body: bytes, key: bytes = KEY, unicast: bool = True) -> bytes:
    payload = key + body
    length = len(payload) + (0 if unicast else 16)
    return struct.pack("=IHHII", length, msg_type, 0, 0, 0) + payload


class FakeClient:
    """Stands in for AuditClient.receive_batch: hands out prepared batches, then nothing."""

    def __init__(self, batches: list[list[bytes]]) -> None:
        self.batches = batches
        self.overruns = 0

    def receive_batch(self, timeout: float | None = None, limit: int = 4096) -> list[bytes]:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(0.01)
        return []


def test_netlink_source_decodes_unicast_and_multicast() -> None:
    batch = [datagram(t, b, unicast=n % 2 == 0) for n, (t, b) in enumerate(EXEC_RECORDS)]
    batch.insert(0, datagram(2, b"\0" * 20))  # a stray ACK is not a record
    notes: list[tuple[str, str]] = []
    client = cast(AuditClient, FakeClient([batch, [datagram(1329, b"pid=1")]]))  # no kernel socket here
    source = NetlinkSource(client, Diagnostics(), lambda k, m: notes.append((k, m)))
    try:
        records: list[Record] = []
        deadline = time.monotonic() + 5
        while len(records) < len(EXEC_RECORDS) and time.monotonic() < deadline:
            records += source.poll(0.1)
        assert [r.type for r in records] == ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE"]
        assert records[2].body == b'cwd="/root"' and records[0].key == b"1732500000.123:4567"
        while not notes and time.monotonic() < deadline:
            source.poll(0.1)
        assert notes[0][0] == "daemon-replace"
    finally:
        source.close()


def test_plugin_source_reads_lines_and_counts_garbage() -> None:
    lines = b"".join(
        b"type=%s msg=audit(1732500000.123:4567): %s\n" % (name, body)
        for name, body in [(b"SYSCALL", EXEC_RECORDS[0][1]), (b"EXECVE", EXEC_RECORDS[1][1])]
    )
    diagnostics = Diagnostics()
    source = PluginSource(io.BytesIO(lines + b"garbage\n\n"), diagnostics)
    records: list[Record] = []
    while not source.ended:
        records += source.poll(0.1)
    assert [r.type for r in records] == ["SYSCALL", "EXECVE"]
    assert diagnostics.total == 1 and diagnostics.samples[0].origin == "stdin:3"


class ListSource:
    """A finite in-memory source."""

    def __init__(self, batches: list[list[Record]]) -> None:
        self.batches = batches
        self.records = 0
        self.overruns = 0

    @property
    def ended(self) -> bool:
        return not self.batches

    @property
    def error(self) -> str | None:
        return None

    def poll(self, timeout: float) -> list[Record]:
        batch = self.batches.pop(0) if self.batches else []
        self.records += len(batch)
        return batch

    def close(self) -> None:
        pass


class ListWriter:
    def __init__(self) -> None:
        self.events: list[ExecEvent] = []
        self.alarms: list[Alarm] = []

    def write(self, event: ExecEvent) -> None:
        self.events.append(event)

    def write_alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)

    def close(self) -> None:
        pass


def exec_records(serial: int, comm: bytes = b"ls") -> list[Record]:
    key = b"1732500000.123:%d" % serial
    names = ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE"]
    return [
        Record(name, key, body.replace(b'comm="ls"', b'comm="' + comm + b'"'))
        for name, (_, body) in zip(names, EXEC_RECORDS, strict=True)
    ]


def run_watch(
    batches: list[list[Record]], limits: Limits, event_filter: EventFilter | None = None
) -> tuple[Any, ListWriter]:
    monitor = KernelMonitor(None, "daemon", lambda a: None)
    capture = Capture("daemon", ListSource(batches), monitor)
    writer = ListWriter()
    builder = EventBuilder(Diagnostics())
    totals = Watch(capture, builder, event_filter or EventFilter(), writer, limits, threading.Event()).run()
    return totals, writer


def test_watch_loop_builds_filters_and_counts() -> None:
    batches = [exec_records(1) + exec_records(2, b"id"), exec_records(3)]
    totals, writer = run_watch(batches, Limits(), EventFilter(comms=("ls",)))
    assert [e.serial for e in writer.events] == [1, 3]
    assert (totals.events, totals.shown, totals.reason) == (3, 2, "end of input")


def test_watch_loop_stops_at_count() -> None:
    totals, writer = run_watch([exec_records(n) for n in range(1, 10)], Limits(count=2))
    assert totals.reason == "count" and len(writer.events) == 2


def test_watch_loop_builds_unfinished_events_at_the_end() -> None:
    _, writer = run_watch([exec_records(7)[:3]], Limits())  # no PROCTITLE/EOE
    assert [e.serial for e in writer.events] == [7]


def test_watch_gives_the_context_review_gives() -> None:
    """Live capture builds events through the same EventBuilder: the captured ``#!`` exec (1075) and
    fexecve (1082) of workload_enriched.log, fed as the live source would, get ``script``/``fileless``."""
    wanted = {b"1795618246.914:1075", b"1795618246.942:1082"}
    records = [r for r in read_records([CAPTURED_LOGS[0]], Diagnostics()) if r.key in wanted]
    _, writer = run_watch([records], Limits())
    got = {e.serial: (e.script, e.fileless) for e in writer.events}
    assert got == {1075: ("/tmp/exectrail-record-s68akxtj/w/script.sh", ()), 1082: (None, ("fd",))}


class FakeStatusClient:
    def __init__(self, statuses: list[AuditStatus]) -> None:
        self.statuses = statuses

    def get_status(self) -> AuditStatus:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def list_rules(self) -> list[bytes]:
        return []


def test_monitor_reports_lost_and_a_vanished_daemon() -> None:
    alarms: list[Alarm] = []
    client = FakeStatusClient(
        [AuditStatus(lost=5, pid=1), AuditStatus(lost=9, pid=1), AuditStatus(lost=9, pid=0)]
    )
    monitor = KernelMonitor(client, "multicast", alarms.append, interval=0)  # type: ignore[arg-type]
    monitor.start()
    monitor.tick()
    assert [a.kind for a in alarms] == ["events-lost"]  # at once
    monitor.tick()
    assert len(alarms) == 1  # the daemon's departure waits for a record that would explain it
    monitor.finish()  # … and is due when the capture ends
    assert [a.kind for a in alarms] == ["events-lost", "collector-stopped"]
    assert monitor.lost == 4 and alarms[0].details["lost"] == 4


def test_journal_round_trip_and_staleness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECTRAIL_STATE_DIR", str(tmp_path))
    journal = journal_mod.Journal(999_999_999, "daemon", 1.0, (b"\x01\x02",), {"enabled": (0, 1)}, True)
    (tmp_path / "watch.999999999.json").write_text(__import__("json").dumps(journal.to_json()))
    (tmp_path / "watch.1.json").write_text("not json")
    [(path, found)] = journal_mod.stale_journals()
    assert found == journal and path.name == "watch.999999999.json"
    assert "enabled=1 (was 0)" in found.describe() and "1 rule(s)" in found.describe()
