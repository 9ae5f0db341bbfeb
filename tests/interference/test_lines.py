"""Line-level integrity on real logs: damaged lines, a cut last line, ENRICHED parts that contradict
the raw part (what a hand edit of the raw fields leaves behind)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from exectrail.interference import kinds
from exectrail.interference.detector import scan_logs
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm
from tests.support import logedit as ed
from tests.support.paths import DATA


@pytest.fixture
def lines() -> list[bytes]:
    return ed.read_lines(DATA / "workload_enriched.log")


def line_alarms(path: Path) -> list[Alarm]:
    alarms = scan_logs([str(path)])[0]
    return [a for a in alarms if a.kind in (kinds.LINE_EDITED, kinds.LINE_MALFORMED, kinds.LINE_TRUNCATED)]


def victim_line(lines: list[bytes]) -> tuple[int, int]:
    """(serial, 1-based line number of its SYSCALL) of an exec event in the middle of the log."""
    number = ed.exec_serials(lines)[50]
    index = next(i for i, x in enumerate(lines) if ed.is_type(x, "SYSCALL") and ed.serial(x) == number)
    return number, index + 1


def test_clean_logs_have_no_line_findings() -> None:
    for name in ("workload_enriched.log", "workload_raw_node.log.gz", "interleaved_concurrent.log"):
        assert line_alarms(DATA / name) == []


def test_uid_changed_in_the_raw_part(lines: list[bytes], tmp_path: Path) -> None:
    number, lineno = victim_line(lines)
    path = ed.write(
        tmp_path / "audit.log", ed.change_field(lines, number, "SYSCALL", b" uid=0 ", b" uid=1000 ")
    )
    [alarm] = line_alarms(path)
    assert alarm.kind == kinds.LINE_EDITED and alarm.certainty == SUSPICIOUS
    assert alarm.details["lines"] == [lineno] and alarm.details["odd"] == ["1000", '"root"']
    assert alarm.evidence[0].startswith(f"{path}:{lineno}: type=SYSCALL")


def test_gid_changed_in_the_raw_part(lines: list[bytes], tmp_path: Path) -> None:
    number, lineno = victim_line(lines)
    path = ed.write(
        tmp_path / "audit.log", ed.change_field(lines, number, "SYSCALL", b" egid=0 ", b" egid=27 ")
    )
    [alarm] = line_alarms(path)
    assert alarm.kind == kinds.LINE_EDITED and alarm.certainty == SUSPICIOUS
    assert "give group id 27 the name" in alarm.summary and alarm.details["odd"] == ["27", '"root"']
    assert alarm.details["lines"] == [lineno]


def test_format_of_a_raw_log_comes_from_its_daemon_start(tmp_path: Path) -> None:
    """A RAW log (DAEMON_START format=raw) whose first SYSCALL line carries an ENRICHED part: that
    line is the odd one, not every other line."""
    raw = gzip.decompress((DATA / "workload_raw_node.log.gz").read_bytes()).splitlines(keepends=True)
    start = next(i for i, x in enumerate(raw) if ed.is_type(x, "DAEMON_START"))
    assert b" format=raw " in raw[start]
    first = next(i for i, x in enumerate(raw) if i > start and ed.is_type(x, "SYSCALL"))
    raw[first] = raw[first].rstrip(b"\n") + b'\x1dARCH=x86_64 SYSCALL=execve AUID="unset"\n'
    [alarm] = line_alarms(ed.write(tmp_path / "audit.log", raw))
    assert alarm.details["lines"] == [first + 1] and alarm.details["count"] == 1


def test_exec_syscall_number_changed(lines: list[bytes], tmp_path: Path) -> None:
    number, lineno = victim_line(lines)
    path = ed.write(
        tmp_path / "audit.log", ed.change_field(lines, number, "SYSCALL", b"syscall=59 ", b"syscall=2 ")
    )
    edited = [a for a in line_alarms(path) if "contradicts" in a.summary]
    assert len(edited) == 1 and edited[0].certainty == CERTAIN and edited[0].details["lines"] == [lineno]


def test_enriched_part_missing_on_one_line(lines: list[bytes], tmp_path: Path) -> None:
    _number, lineno = victim_line(lines)
    lines[lineno - 1] = lines[lineno - 1].partition(ed.SEP)[0] + b"\n"
    [alarm] = line_alarms(ed.write(tmp_path / "audit.log", lines))
    assert alarm.certainty == CERTAIN and "lacks the ENRICHED part" in alarm.summary


def test_enriched_line_pasted_into_a_raw_log(tmp_path: Path) -> None:
    raw = gzip.decompress((DATA / "workload_raw_node.log.gz").read_bytes()).splitlines(keepends=True)
    enriched = ed.read_lines(DATA / "workload_enriched.log")
    pasted = next(x for x in enriched if ed.is_type(x, "SYSCALL") and b"syscall=59" in x)
    raw.insert(len(raw) // 2, b"node=exectrail-test " + pasted)
    alarms = line_alarms(ed.write(tmp_path / "audit.log", raw))
    assert any("interpreted part in a RAW log" in a.summary for a in alarms)


def test_hand_typed_line(lines: list[bytes], tmp_path: Path) -> None:
    lines.insert(300, b"type=SYSCALL this was typed by hand\n")
    lines.insert(500, b"\n")  # an empty line is not damage (tools that copy logs add them)
    lines.insert(600, b'type=EXECVE msg=audit(99999999999999999.000:1): argc=1 a0="x"\n')  # out of range
    [alarm] = line_alarms(ed.write(tmp_path / "audit.log", lines))
    assert alarm.kind == kinds.LINE_MALFORMED and alarm.certainty == CERTAIN
    assert alarm.details["lines"] == [301, 601]
    assert alarm.evidence[0] == f"{tmp_path / 'audit.log'}:301: type=SYSCALL this was typed by hand"


@pytest.mark.parametrize("keep", [40, 90])  # cut inside the header / after it (the line still parses)
def test_last_line_cut_short(lines: list[bytes], tmp_path: Path, keep: int) -> None:
    syscall = next(x for x in reversed(lines) if ed.is_type(x, "SYSCALL"))
    new_event = ed.shift_serials([syscall], 0, 10_000)[0]  # the next event, as it began to be written
    cut = [*lines, new_event[:keep]]  # auditd killed mid-write: no newline
    found = line_alarms(ed.write(tmp_path / "audit.log", cut))
    assert [(a.kind, a.certainty) for a in found] == [(kinds.LINE_TRUNCATED, SUSPICIOUS)]
    assert found[0].details["line"] == len(cut)


def test_gzip_logs_are_checked_too(lines: list[bytes], tmp_path: Path) -> None:
    number, _ = victim_line(lines)
    edited = ed.change_field(lines, number, "SYSCALL", b" uid=0 ", b" uid=1000 ")
    path = tmp_path / "audit.log.1.gz"
    path.write_bytes(gzip.compress(b"".join(edited)))
    assert [a.kind for a in line_alarms(path)] == [kinds.LINE_EDITED]
