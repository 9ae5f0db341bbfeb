"""After-the-fact findings on real auditd logs (tests/data), untouched and edited by hand.

The logs in tests/data were written by a real auditd 3.0.9 on this kernel; each edit here is what a
person with root and a text editor would do. The kernel tests (test_kernel_logs.py) make the same
interference happen for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exectrail.interference import kinds
from exectrail.interference.detector import scan_logs
from exectrail.interference.trail import Settings
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm
from tests.support import logedit as ed
from tests.support.paths import DATA

CLEAN_LOGS = ["workload_enriched.log", "workload_raw_node.log.gz", "interleaved_concurrent.log"]
# what a clean capture ends with: the harness deletes its rules, then stops auditd
END_OF_CAPTURE = {kinds.RULES_REMOVED, kinds.COLLECTOR_STOPPED}


def scan(*paths: Path, **settings: int) -> list[Alarm]:
    return scan_logs([str(p) for p in paths], Settings(**settings))[0]  # type: ignore[arg-type]


def of(alarms: list[Alarm], kind: str) -> list[Alarm]:
    return [a for a in alarms if a.kind == kind]


@pytest.fixture
def lines() -> list[bytes]:
    return ed.read_lines(DATA / "workload_enriched.log")


@pytest.mark.parametrize("name", CLEAN_LOGS)
def test_clean_real_logs_raise_only_the_end_of_capture(name: str) -> None:
    alarms = scan(DATA / name)
    assert {a.kind for a in alarms} == END_OF_CAPTURE
    removed = of(alarms, kinds.RULES_REMOVED)
    # the capture's teardown: two procmon rules deleted by two auditctl processes: one alarm each
    assert [r.details["count"] for r in removed] == [1, 1]
    actors = [r.details["actor"] for r in removed]
    assert len({a["pid"] for a in actors if isinstance(a, dict)}) == 2
    assert all(r.details["until"] is None for r in removed)  # not added again
    stopped = of(alarms, kinds.COLLECTOR_STOPPED)[0]
    assert stopped.details["restarted"] is None and "DAEMON_END" in stopped.evidence[0]


def test_event_removed_gives_its_serial(lines: list[bytes], tmp_path: Path) -> None:
    victim = ed.exec_serials(lines)[40]
    alarms = scan(ed.write(tmp_path / "audit.log", ed.drop_event(lines, victim)))
    missing = of(alarms, kinds.EVENTS_MISSING)
    assert len(missing) == 1 and missing[0].certainty == CERTAIN
    assert missing[0].details["serial_ranges"] == [[victim, victim]]
    assert missing[0].details["events_missing"] == 1


def test_several_removed_events_close_together_are_one_alarm(lines: list[bytes], tmp_path: Path) -> None:
    victims = ed.exec_serials(lines)[40:50:3]
    for victim in victims:
        lines = ed.drop_event(lines, victim)
    missing = of(scan(ed.write(tmp_path / "audit.log", lines)), kinds.EVENTS_MISSING)
    assert len(missing) == 1 and missing[0].details["events_missing"] == len(victims)
    assert missing[0].details["serial_ranges"] == [[v, v] for v in victims]


@pytest.mark.parametrize("rtype", ["PATH", "CWD", "EXECVE", "PROCTITLE"])
def test_one_record_removed_makes_the_event_incomplete(
    lines: list[bytes], tmp_path: Path, rtype: str
) -> None:
    victim = ed.exec_serials(lines)[30]
    alarms = scan(ed.write(tmp_path / "audit.log", ed.drop_record(lines, victim, rtype)))
    incomplete = of(alarms, kinds.EVENT_INCOMPLETE)
    assert len(incomplete) == 1 and incomplete[0].certainty == SUSPICIOUS
    assert f":{victim})" in incomplete[0].evidence[1]
    assert not of(alarms, kinds.EVENTS_MISSING)  # the event's serial is still there


def test_event_copied_later_is_an_edit(lines: list[bytes], tmp_path: Path) -> None:
    victim = ed.exec_serials(lines)[20]
    copied = ed.event_lines(lines, victim)
    edited = lines[:-40] + copied + lines[-40:]  # pasted further down
    alarms = scan(ed.write(tmp_path / "audit.log", edited))
    twice = [a for a in of(alarms, kinds.LINE_EDITED) if "twice" in a.summary]
    assert len(twice) == 1 and twice[0].certainty == CERTAIN


def test_serials_spliced_from_elsewhere_restart(lines: list[bytes], tmp_path: Path) -> None:
    middle = len(lines) // 2
    high = ed.shift_serials(lines, 0, 500_000)  # the first half from a host with high serials
    alarms = scan(ed.write(tmp_path / "audit.log", ed.shift_serials(high, middle, -500_000)))
    restart = of(alarms, kinds.SERIAL_RESTART)
    assert len(restart) == 1 and restart[0].certainty == SUSPICIOUS


def test_clock_set_back_is_reported_once(lines: list[bytes], tmp_path: Path) -> None:
    middle = len(lines) // 2
    alarms = scan(ed.write(tmp_path / "audit.log", ed.shift_time(lines, middle, -3600)))
    back = of(alarms, kinds.TIME_BACKWARDS)
    assert len(back) == 1
    back_ms = back[0].details["back_ms"]
    assert isinstance(back_ms, int) and back_ms >= 3600_000


def test_one_late_event_is_a_long_syscall_not_a_clock_change(lines: list[bytes], tmp_path: Path) -> None:
    victim = ed.exec_serials(lines)[60]
    first = next(i for i, x in enumerate(lines) if ed.is_type(x, "SYSCALL") and ed.serial(x) == victim)
    last = max(i for i, x in enumerate(lines) if ed.serial(x) == victim)
    edited = lines[:first] + ed.shift_time(lines[first : last + 1], 0, -60) + lines[last + 1 :]
    assert not of(scan(ed.write(tmp_path / "audit.log", edited)), kinds.TIME_BACKWARDS)


def test_silent_gap_on_a_busy_host(lines: list[bytes], tmp_path: Path) -> None:
    middle = len(lines) // 2
    while not ed.is_type(lines[middle], "SYSCALL"):  # cut between events
        middle += 1
    path = ed.write(tmp_path / "audit.log", ed.shift_time(lines, middle, 2 * 3600))
    gaps = of(scan(path), kinds.SILENT_GAP)
    assert len(gaps) == 1 and gaps[0].certainty == SUSPICIOUS
    assert 2 * 3600_000 <= gaps[0].details["gap_ms"] < 2 * 3600_000 + 5000  # type: ignore[operator]
    assert not of(scan(path, silent_gap_ms=3 * 3600_000), kinds.SILENT_GAP)


def _respaced(lines: list[bytes], step_ms: int) -> list[bytes]:
    """The same records, one event every ``step_ms`` (a host busy at that pace)."""
    out: list[bytes] = []
    times: dict[bytes, int] = {}
    first = ed.SERIAL.search(lines[0])
    assert first is not None
    start = int(first.group(1)) * 1000
    for line in lines:
        found = ed.SERIAL.search(line)
        if found is None:
            out.append(line)
            continue
        ms = times.setdefault(found.group(3), start + step_ms * len(times))
        stamp = f"{ms // 1000}.{ms % 1000:03d}".encode()
        out.append(line[: found.start(1)] + stamp + line[found.end(2) :])
    return out


@pytest.mark.parametrize(("pause_s", "reported"), [(3, False), (30, True)])
def test_silent_gap_is_measured_against_the_hosts_pace(
    lines: list[bytes], tmp_path: Path, pause_s: int, reported: bool
) -> None:
    """Events every 200 ms: a 3 s pause is within 20 times the usual gap, a 30 s one is not."""
    paced = _respaced(lines, 200)
    middle = len(paced) // 2
    while not ed.is_type(paced[middle], "SYSCALL"):
        middle += 1
    path = ed.write(tmp_path / "audit.log", ed.shift_time(paced, middle, pause_s))
    gaps = of(scan(path, silent_gap_ms=1000), kinds.SILENT_GAP)
    assert len(gaps) == (1 if reported else 0), gaps
    if reported:
        assert gaps[0].details["p99_gap_ms"] == 256


def test_reordered_concurrent_records_are_not_holes() -> None:
    alarms = scan(DATA / "interleaved_concurrent.log")
    assert not of(alarms, kinds.EVENTS_MISSING) and not of(alarms, kinds.TIME_BACKWARDS)


def test_head_cut_off(lines: list[bytes], tmp_path: Path) -> None:
    path = ed.write(tmp_path / "audit.log", lines[100:])
    head = of(scan(path), kinds.LOG_HEAD_MISSING)
    assert len(head) == 1 and head[0].certainty == SUSPICIOUS
    (tmp_path / "audit.log.1").write_bytes(b"".join(lines[:100]))  # its rotation is there: no alarm
    assert not of(scan(path), kinds.LOG_HEAD_MISSING)


@pytest.mark.parametrize(
    ("name", "reported"), [("audit.log.3", False), ("audit.log.3.gz", False), ("trail.log", True)]
)
def test_a_rotated_file_may_start_mid_stream(
    lines: list[bytes], tmp_path: Path, name: str, reported: bool
) -> None:
    """auditd deletes its oldest rotations as a matter of course: a rotated file's cut head is no alarm."""
    path = ed.write(tmp_path / name, lines[100:])
    assert bool(of(scan(path), kinds.LOG_HEAD_MISSING)) == reported


def test_rotated_files_continue_or_not(lines: list[bytes], tmp_path: Path) -> None:
    third = len(lines) // 3
    a = ed.write(tmp_path / "audit.log.2", lines[:third])
    b = ed.write(tmp_path / "audit.log.1", lines[third : 2 * third])
    c = ed.write(tmp_path / "audit.log", lines[2 * third :])
    assert not of(scan(a, b, c), kinds.LOG_FILE_MISSING)
    gone = of(scan(a, c), kinds.LOG_FILE_MISSING)
    assert len(gone) == 1 and gone[0].certainty == CERTAIN
    assert gone[0].details["previous_file"] == str(a) and gone[0].details["file"] == str(c)
    serials_missing = gone[0].details["serials_missing"]
    assert isinstance(serials_missing, list)
    lo, hi = serials_missing
    middle_serials = {ed.serial(x) for x in lines[third : 2 * third] if not x.startswith(b"type=DAEMON")}
    assert lo <= min(middle_serials - {ed.serial(lines[third - 1])}) and hi >= max(middle_serials) - 1
