"""Any damage to a real log: the alarm finders (trail auditor and line checks) never raise, every
alarm serialises, and the intact events around the damage still come out."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.interference.detector import scan_logs
from exectrail.jsonform import alarm_to_dict
from exectrail.parse.record import parse_line
from tests.support import logedit as ed
from tests.support.paths import DATA

LOG = DATA / "workload_enriched.log"
LINES = ed.read_lines(LOG)
DAMAGE = settings(
    max_examples=int(os.environ.get("EXECTRAIL_EXAMPLES", "100")) // 4 + 5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JUNK = st.sampled_from(
    [
        b"\xff\xfe\x00",
        b"\r",
        b"99999999999999999999",
        b"-1",
        b"18446744073709551616",
        b"\x1d",
        b"=",
        b'"',
        b"msg=audit(",
        b"):",
        b"type=SYSCALL ",
        b"\n",
        b"A" * 70_000,
    ]
)


@st.composite
def damaged(draw: st.DrawFn) -> list[bytes]:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 12))
        lines[index] = line[:at] + draw(JUNK) + line[at + cut :]
    if draw(st.booleans()):
        lines[-1] = lines[-1].rstrip(b"\n")  # a cut last line
    return lines


@DAMAGE
@given(lines=damaged())
def test_damaged_log_never_breaks_the_alarm_finders(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    path = ed.write(tmp_path_factory.mktemp("damaged") / "audit.log", lines)
    alarms, events, _audit = scan_logs([str(path)], keep_events=True)
    for alarm in alarms:
        orjson.dumps(alarm_to_dict(alarm))
        if alarm.kind.startswith("line-"):  # placed in the log's time, never at "unknown" (the epoch)
            assert alarm.time.timestamp() != 0, alarm
    damaged_serials = {
        ed.serial(x) for x, y in zip(lines, LINES, strict=True) if x != y and ed.SERIAL.search(x)
    }
    intact = {e for e in ed.exec_serials(LINES)} - damaged_serials
    untouched = [
        s
        for s in intact
        if all(x == y for x, y in zip(lines, LINES, strict=True) if ed.SERIAL.search(y) and ed.serial(y) == s)
    ]
    assert set(untouched) <= {e.serial for e in events}


def test_a_damaged_line_after_a_blank_first_line_is_placed_at_the_first_record(tmp_path: Path) -> None:
    """Found by the property above: a blank first line made the line checks take it for the first
    record, and a damaged line after it was placed at the epoch."""
    lines = [b"\n", b"\xff\xfe\x00" + LINES[0], *LINES[1:]]
    path = ed.write(tmp_path / "audit.log", lines)
    alarms, _events, _audit = scan_logs([str(path)], keep_events=True)
    malformed = [a for a in alarms if a.kind == "line-malformed"]
    assert len(malformed) == 1
    assert malformed[0].time == parse_line(LINES[1].rstrip(b"\n")).time
