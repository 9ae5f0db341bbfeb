"""The log-scan path (``exectrail.pipeline``, with the alarm checks of
``exectrail.interference.detector``): one pass gives the events and the alarms, the same in
this process and in helper processes (``import``), with the line checks run beside the scan."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from exectrail.errors import InputError
from exectrail.interference import kinds
from exectrail.interference.detector import TrailChecks, alarm_detector, scan_logs
from exectrail.model import Alarm, Diagnostics, ExecEvent, Record
from exectrail.parse.logfile import ReadStats
from exectrail.pipeline import HelperScan, LogScan, read_events, read_exec_events
from exectrail.store.ingest import LogReader
from exectrail.store.writer import prepare
from tests.support.paths import DATA, INTERFERENCE_DATA

CONFIG_LOG = INTERFERENCE_DATA / "config_changes.log"
WORKLOAD = DATA / "workload_enriched.log"


def ident(alarms: list[Alarm]) -> list[tuple[str, object, str, tuple[str, ...]]]:
    return [(a.kind, a.time, a.summary, a.evidence) for a in alarms]


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """The workload log with a garbage line, an edited SYSCALL line and a cut last line."""
    lines = WORKLOAD.read_bytes().splitlines(keepends=True)
    syscall = next(i for i, x in enumerate(lines[200:], 200) if b"type=SYSCALL " in x and b" uid=0 " in x)
    lines[syscall] = lines[syscall].replace(b" uid=0 ", b" uid=1000 ", 1)
    lines.insert(100, b"type=SYSCALL msg=audit(garbage\n")
    path = tmp_path / "damaged.log"
    path.write_bytes(b"".join(lines) + b"type=EXECVE msg=audit(17")
    return path


def test_read_events_is_the_events_of_the_files() -> None:
    expected = list(read_exec_events([WORKLOAD, CONFIG_LOG], Diagnostics()))
    assert list(read_events([WORKLOAD, str(CONFIG_LOG)])) == expected and len(expected) > 100


def test_read_events_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"gone\.log: no such file"):
        next(read_events([WORKLOAD, tmp_path / "gone.log"]))


def test_scan_logs_hands_out_events_and_alarms_as_found() -> None:
    events: list[ExecEvent] = []
    alarms: list[Alarm] = []
    result = scan_logs([CONFIG_LOG], keep_events=True, on_event=events.append, on_alarm=alarms.append)
    assert events == result.events == list(read_events([CONFIG_LOG]))
    assert sorted(ident(alarms)) == sorted(ident(result.alarms)) and len(alarms) == 8
    assert [a.time for a in result.alarms] == sorted(a.time for a in alarms)
    quiet = scan_logs([CONFIG_LOG], alarms=False, keep_events=True)
    assert quiet.alarms == [] and quiet.events == events


def test_a_detector_sees_files_records_events_and_the_end(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")

    class Counting:
        def __init__(self) -> None:
            self.diagnostics = Diagnostics()
            self.calls: list[str] = []
            self.records = self.groups = 0

        def begin_file(self, name: str) -> None:
            self.calls.append(f"begin {Path(name).name}")

        def record(self, record: Record) -> None:
            self.records += 1

        def group(self, group: list[Record]) -> None:
            self.groups += 1

        def end_input(self) -> None:
            self.calls.append("end")

        def take(self) -> list[Alarm]:
            return []

        def finish(self, files: list[str]) -> list[Alarm]:
            self.calls.append(f"finish {len(files)}")
            return []

    detector = Counting()
    scan = LogScan([CONFIG_LOG, empty, WORKLOAD], detector=detector)
    events = list(scan)
    assert scan.finish() == []
    assert detector.calls == ["begin config_changes.log", "begin workload_enriched.log", "end", "finish 2"]
    assert scan.files == [str(CONFIG_LOG), str(WORKLOAD)]
    assert 0 < len(events) < detector.groups <= detector.records < scan.stats.records


@pytest.mark.parametrize("background", [True, False])
def test_the_scan_in_helpers_finds_what_the_scan_here_finds(damaged: Path, background: bool) -> None:
    """Damaged lines make the line checks run again with the reader's rejected lines."""
    paths = [str(CONFIG_LOG), str(damaged)]
    stats = ReadStats()
    here = scan_logs(paths, stats=stats, keep_events=True)
    assert {kinds.LINE_MALFORMED, kinds.LINE_TRUNCATED, kinds.LINE_EDITED} <= {a.kind for a in here.alarms}
    reader = LogReader(paths, background=background, alarms=TrailChecks(), events=True)
    try:
        items = list(reader)
        found = reader.alarms()
    finally:
        reader.close()
    assert [event for _prepared, event in items] == here.events
    assert [prepared for prepared, _event in items] == [prepare(e) for e in here.events]
    assert ident(found) == ident(here.alarms)
    assert (reader.stats, reader.incomplete) == (stats, here.scan.incomplete)
    assert reader.diagnostics.summary() == here.scan.diagnostics.summary()


@pytest.mark.parametrize("line_checks", [True, False])
def test_alarms_only_in_a_helper(damaged: Path, line_checks: bool) -> None:
    expected = scan_logs([str(damaged)], line_checks=line_checks).alarms
    scan: HelperScan[None] = HelperScan([str(damaged)], None, alarms=TrailChecks(line_checks=line_checks))
    try:
        assert list(scan) == []
        assert ident(scan.alarms()) == ident(expected)
    finally:
        scan.close()
    assert any(a.kind == kinds.LINE_MALFORMED for a in expected) == line_checks


@pytest.mark.parametrize("helper", [False, True])
def test_a_pipe_is_read_by_the_scan_alone(helper: bool) -> None:
    """A pipe (``review <(zcat …)``) gives each byte to one reader: the line checks neither run
    beside the scan on it nor read it afterwards (it cannot be read twice); the scan's own alarms stay."""
    expected = list(read_events([WORKLOAD]))
    read, write = os.pipe()  # the writer is another process, as with <(…): no copy of its end here
    feeder = subprocess.Popen(["cat", str(WORKLOAD)], stdout=write)
    os.close(write)
    events: list[ExecEvent] = []
    try:
        path = f"/proc/self/fd/{read}"
        if helper:
            scan: HelperScan[ExecEvent] = HelperScan([path], lambda e: e, alarms=TrailChecks())
            try:
                events = list(scan)
                alarms = scan.alarms()
            finally:
                scan.close()
        else:
            alarms = scan_logs([path], on_event=events.append).alarms
        once = scan_logs([str(WORKLOAD)], line_checks=False).alarms  # what the scan alone finds
        assert alarms and [a.kind for a in alarms] == [a.kind for a in once]
    finally:
        feeder.wait()
        os.close(read)
    assert events == expected


def test_close_stops_both_helpers() -> None:
    scan: HelperScan[ExecEvent] = HelperScan([str(WORKLOAD)], lambda e: e, alarms=TrailChecks())
    helpers = [scan._process, scan._lines._process]  # type: ignore[union-attr]
    scan.close()
    assert all(p.exitcode is not None for p in helpers)


def test_helpers_stopped_at_once_go_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    """A helper stopped right after the fork (``review --sink BAD``: the sinks fail to open) must
    not run the SIGTERM handler it inherited from the CLI (which raises: a traceback)."""

    def raise_stop(signum: int, frame: object) -> None:
        raise RuntimeError("the CLI's handler ran in a helper")

    saved = signal.signal(signal.SIGTERM, raise_stop)
    try:
        for _ in range(5):
            scan = LogScan([WORKLOAD], detector=alarm_detector(ahead=[WORKLOAD]))
            scan.close()
            helper: HelperScan[None] = HelperScan([str(WORKLOAD)], None, alarms=TrailChecks())
            helper.close()
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert "Traceback" not in capfd.readouterr().err
