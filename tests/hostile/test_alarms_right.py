"""The right alarms, and only those: files that are not audit logs, exec coverage, rule deletions by
several processes, exec events whose SYSCALL line was removed, and hostile lines in the line checks.

Real logs written by auditd (tests/data, tests/interference/data), edited the way an intruder would
(tests/interference/logedit.py), read by the real ``exectrail alarms`` command.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import logedit as ed
from tests.support.cli import run
from tests.support.paths import DATA, INTERFERENCE_DATA

WORKLOAD = DATA / "workload_enriched.log"
CHANGES = INTERFERENCE_DATA / "config_changes.log"


def alarms(*paths: Path, exit_codes: tuple[int, ...] = (0, 3)) -> tuple[list[dict[str, Any]], str]:
    """``exectrail alarms --format jsonl PATHS``: the alarms and stderr."""
    result = run("alarms", "--format", "jsonl", *map(str, paths))
    assert result.exit_code in exit_codes, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def kinds_of(found: list[dict[str, Any]]) -> list[str]:
    return sorted(a["kind"] for a in found)


@pytest.fixture
def lines() -> list[bytes]:
    return ed.read_lines(WORKLOAD)


# -- not an audit log ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["random", "text", "random.gz"])
def test_not_an_audit_log_gets_no_alarm(tmp_path: Path, kind: str) -> None:
    junk = os.urandom(200_000) if kind.startswith("random") else b"hello\nthis is a text file\n\n"
    path = tmp_path / f"file.{kind}"
    path.write_bytes(gzip.compress(junk) if kind.endswith(".gz") else junk)
    found, err = alarms(path, exit_codes=(1,))
    assert found == []
    assert f"exectrail: {path}: not an audit log (" in err and "no alarm" in err


def test_junk_beside_a_real_log_changes_nothing(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"not an audit log\n")
    alone, _ = alarms(WORKLOAD)
    together, err = alarms(junk, WORKLOAD, exit_codes=(1,))
    assert together == alone and "notes.txt: not an audit log" in err


# -- exec-rules-missing only without exec events ------------------------------------------------
def _without_rule_changes(lines: list[bytes]) -> list[bytes]:
    return [x for x in lines if not ed.is_type(x, "CONFIG_CHANGE")]


def test_exec_events_under_another_key_are_exec_events(lines: list[bytes], tmp_path: Path) -> None:
    other = [x.replace(b'key="procmon"', b'key="execs"') for x in _without_rule_changes(lines)]
    found, _ = alarms(ed.write(tmp_path / "audit.log", other))
    assert "exec-rules-missing" not in kinds_of(found)


def test_exec_events_without_their_syscall_lines_are_exec_events(lines: list[bytes], tmp_path: Path) -> None:
    """Every SYSCALL line of the exec events removed: the trail still shows execs (EXECVE)."""
    execs = set(ed.exec_serials(lines))
    kept = [
        x for x in _without_rule_changes(lines) if not (ed.is_type(x, "SYSCALL") and ed.serial(x) in execs)
    ]
    found, _ = alarms(ed.write(tmp_path / "audit.log", kept))
    assert "exec-rules-missing" not in kinds_of(found)
    assert "event-incomplete" in kinds_of(found)


def test_interpreted_syscall_names_are_exec_events(lines: list[bytes], tmp_path: Path) -> None:
    named = [x.replace(b" syscall=59 ", b" syscall=execve ") for x in _without_rule_changes(lines)]
    named = [x for x in named if not ed.is_type(x, "EXECVE")]
    found, _ = alarms(ed.write(tmp_path / "audit.log", named))
    assert "exec-rules-missing" not in kinds_of(found)


def test_a_trail_without_exec_events_still_says_so(lines: list[bytes], tmp_path: Path) -> None:
    """Two minutes of records, none of an exec, rules never added: still reported."""
    exec_calls = (b" syscall=59 ", b" syscall=322 ", b" syscall=11 ", b" syscall=358 ")  # x86_64, i386
    execs = {ed.serial(x) for x in lines if ed.is_type(x, "SYSCALL") and any(c in x for c in exec_calls)}
    quiet = [x for x in _without_rule_changes(lines) if ed.SERIAL.search(x) and ed.serial(x) not in execs]
    kernel = [x for x in quiet if not x.startswith(b"type=DAEMON")]
    trail = [x for x in quiet if x.startswith(b"type=DAEMON_START")]
    for i in range(5):  # the same quiet minute again, later, with later serials
        trail += ed.shift_serials(ed.shift_time(kernel, 0, 30 * i), 0, 1000 * i)
    found, _ = alarms(ed.write(tmp_path / "audit.log", trail))
    [missing] = [a for a in found if a["kind"] == "exec-rules-missing"]
    assert missing["summary"].startswith("no exec event at all in this trail")


# -- rules-removed: one alarm per process -------------------------------------------------------
def _removals(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in found if a["kind"] == "rules-removed"]


def test_deletions_by_two_processes_are_two_alarms(lines: list[bytes], tmp_path: Path) -> None:
    """The capture's teardown: two auditctl -d, by pids 8174 and 8176, 16 ms apart."""
    removed = _removals(alarms(WORKLOAD)[0])
    assert [a["details"]["actor"]["pid"] for a in removed] == [8174, 8176]
    assert all(a["details"]["count"] == 1 for a in removed)


def test_delete_and_delete_all_by_two_processes_apart(tmp_path: Path) -> None:
    """An ``auditctl -d``, then 1 s later an ``auditctl -D`` (3 rules) by another process."""
    src = ed.read_lines(CHANGES)
    removals = [x for x in src if ed.is_type(x, "CONFIG_CHANGE") and b"op=remove_rule" in x]
    single, burst = ed.serial(removals[0]), ed.serial(removals[1])
    adds = [x for x in src if ed.is_type(x, "CONFIG_CHANGE") and b"op=add_rule" in x]
    for between in {ed.serial(x) for x in adds if single < ed.serial(x) < burst}:
        src = ed.drop_event(src, between)  # the rules added back in between (they end a deletion)
    start = next(i for i, x in enumerate(src) if ed.SERIAL.search(x) and ed.serial(x) >= burst - 1)
    found, _ = alarms(ed.write(tmp_path / "audit.log", ed.shift_time(src, start, 1)))
    removed = _removals(found)
    assert [a["details"]["count"] for a in removed] == [1, 3]
    assert removed[0]["details"]["actor"]["pid"] != removed[1]["details"]["actor"]["pid"]
    assert 1000 < _ms(removed[1]["time"]) - _ms(removed[0]["time"]) < 2000  # within one "burst" of time


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_one_delete_all_stays_one_alarm() -> None:
    removed = _removals(alarms(CHANGES)[0])
    assert [a["details"]["count"] for a in removed] == [1, 3]
    assert removed[1]["summary"].startswith("3 audit rules deleted (keys procmon, shadow)")


# -- event-incomplete: an exec without its SYSCALL record ---------------------------------------
def test_syscall_line_removed_names_the_event(lines: list[bytes], tmp_path: Path) -> None:
    serials = ed.exec_serials(lines)
    victim = serials[len(serials) // 2]
    [syscall] = [x for x in lines if ed.is_type(x, "SYSCALL") and ed.serial(x) == victim]
    found, _ = alarms(ed.write(tmp_path / "audit.log", ed.drop_record(lines, victim, "SYSCALL")))
    [alarm] = [a for a in found if a["kind"] == "event-incomplete"]
    stamp = ed.SERIAL.search(syscall)
    assert stamp is not None
    seconds, ms = stamp.group(1, 2)
    event_id = f":{seconds.decode()}.{ms.decode()}:{victim}"
    assert alarm["certainty"] == "certain"
    assert alarm["summary"].startswith(f"exec event {event_id} has no SYSCALL record: who ran it")
    assert alarm["details"] == {"events": 1, "event_ids": [event_id], "missing": ["SYSCALL"]}
    assert any(f":{victim}): argc=" in line for line in alarm["evidence"])  # its EXECVE record


def test_syscall_and_path_lines_removed(lines: list[bytes], tmp_path: Path) -> None:
    victim = ed.exec_serials(lines)[3]
    edited = ed.drop_record(
        ed.drop_record(ed.drop_record(lines, victim, "SYSCALL"), victim, "PATH"), victim, "PATH"
    )
    [alarm] = [
        a for a in alarms(ed.write(tmp_path / "audit.log", edited))[0] if a["kind"] == "event-incomplete"
    ]
    assert alarm["details"]["missing"] == ["SYSCALL", "PATH"]
    assert "has no SYSCALL, PATH records" in alarm["summary"]


def test_several_syscall_lines_removed_are_one_alarm(lines: list[bytes], tmp_path: Path) -> None:
    victims = ed.exec_serials(lines)[10:13]
    for victim in victims:
        lines = ed.drop_record(lines, victim, "SYSCALL")
    [alarm] = [
        a for a in alarms(ed.write(tmp_path / "audit.log", lines))[0] if a["kind"] == "event-incomplete"
    ]
    assert alarm["details"]["events"] == 3 and len(alarm["details"]["event_ids"]) == 3
    assert alarm["summary"].startswith("3 exec events have no SYSCALL record (first: ")


def test_a_log_that_begins_inside_an_event_is_not_an_edit(lines: list[bytes], tmp_path: Path) -> None:
    """A log cut (or rotated) right after an exec's SYSCALL line: the rest of that event opens it."""
    victim = ed.exec_serials(lines)[5]
    start = next(i for i, x in enumerate(lines) if ed.is_type(x, "SYSCALL") and ed.serial(x) == victim) + 1
    found, _ = alarms(ed.write(tmp_path / "audit.log", lines[start:]))
    assert "event-incomplete" not in kinds_of(found)
    assert "log-head-missing" in kinds_of(found)


def test_a_missing_rotated_file_is_not_an_edit(lines: list[bytes], tmp_path: Path) -> None:
    """Of audit.log.2, audit.log.1, audit.log the middle one is gone: audit.log begins inside an
    event whose SYSCALL line went with it. That is one log-file-missing alarm, not an edited line."""
    victim = ed.exec_serials(lines)[-20]
    start = next(i for i, x in enumerate(lines) if ed.is_type(x, "SYSCALL") and ed.serial(x) == victim) + 1
    older = ed.write(tmp_path / "audit.log.2", lines[: start - 300])
    current = ed.write(tmp_path / "audit.log", lines[start:])
    found, _ = alarms(older, current)
    assert "log-file-missing" in kinds_of(found) and "event-incomplete" not in kinds_of(found)


def test_failed_exec_without_its_syscall_line(lines: list[bytes], tmp_path: Path) -> None:
    """CWD/PATH/PROCTITLE without SYSCALL: a line was removed, but the event may be any syscall."""
    failed = [
        ed.serial(x)
        for x in lines
        if ed.is_type(x, "SYSCALL") and b" syscall=59 " in x and b"success=no" in x
    ]
    victim = failed[len(failed) // 2]
    found, _ = alarms(ed.write(tmp_path / "audit.log", ed.drop_record(lines, victim, "SYSCALL")))
    [alarm] = [a for a in found if a["kind"] == "event-incomplete"]
    assert alarm["certainty"] == "suspicious" and alarm["details"]["missing"] == ["SYSCALL"]
    assert f":{victim} has no SYSCALL record though its CWD/PATH/PROCTITLE" in alarm["summary"]
    assert alarm["summary"].startswith("event :")


@pytest.mark.parametrize("rtype", ["SYSCALL", "CWD", "PROCTITLE", "BPRM_FCAPS"])
def test_a_record_written_once_per_event_copied(lines: list[bytes], tmp_path: Path, rtype: str) -> None:
    victim = ed.exec_serials(lines)[7]
    index = next(i for i, x in enumerate(lines) if ed.is_type(x, rtype) and ed.serial(x) == victim)
    found, _ = alarms(
        ed.write(tmp_path / "audit.log", [*lines[: index + 1], lines[index], *lines[index + 1 :]])
    )
    [copied] = [a for a in found if a["kind"] == "line-edited"]
    twice = f"({rtype} record written twice in one event)"
    if rtype == "PROCTITLE":  # the last record: its copy comes after the event was closed
        twice = "(the same event appears twice)"
    assert copied["certainty"] == "certain" and twice in copied["evidence"]


# -- the line checks on hostile lines ----------------------------------------------------------
def test_crlf_log_gives_the_same_alarms(lines: list[bytes], tmp_path: Path) -> None:
    crlf = [x.replace(b"\n", b"\r\n") for x in lines]
    assert alarms(ed.write(tmp_path / "audit.log", crlf))[0] == alarms(WORKLOAD)[0]


def test_half_crlf_log_is_not_an_edit(lines: list[bytes], tmp_path: Path) -> None:
    mixed = [x.replace(b"\n", b"\r\n") if i % 2 else x for i, x in enumerate(lines)]
    assert "line-edited" not in kinds_of(alarms(ed.write(tmp_path / "audit.log", mixed))[0])


def test_out_of_range_and_non_utf8_lines_are_quoted(lines: list[bytes], tmp_path: Path) -> None:
    bad = [
        b'type=EXECVE msg=audit(99999999999999999.000:1): argc=1 a0="x"\n',
        b"type=SYSCALL msg=audit(1795618246.600:18446744073709551616): arch=c000003e\n",
        b"type=SYSCALL \xff\xfe garbage\r\n",
    ]
    edited = lines[:300] + bad + lines[300:]
    found, _ = alarms(ed.write(tmp_path / "audit.log", edited))
    [alarm] = [a for a in found if a["kind"] == "line-malformed"]
    assert alarm["details"]["lines"] == [301, 302, 303]
    assert alarm["time"].startswith("2026-11-25T")  # the time around them, not 1970
    assert bytes.fromhex(alarm["evidence_hex"][2]).endswith(b"type=SYSCALL \xff\xfe garbage")


def test_huge_line_is_quoted_in_bounded_time(lines: list[bytes], tmp_path: Path) -> None:
    huge = b'type=EXECVE msg=audit(1795618246.600:99999): argc=1 a0="' + b"A" * (64 << 20) + b'"\n'
    started = time.monotonic()
    found, _ = alarms(ed.write(tmp_path / "audit.log", [*lines[:600], huge, *lines[600:]]))
    assert time.monotonic() - started < 30
    [alarm] = [a for a in found if a["kind"] == "line-malformed"]
    assert alarm["details"]["lines"] == [601] and len(alarm["evidence"][0]) < 3000


def test_huge_last_line_without_newline(lines: list[bytes], tmp_path: Path) -> None:
    found, _ = alarms(ed.write(tmp_path / "audit.log", [*lines, b"type=SYSCALL " + b"x" * (8 << 20)]))
    [cut] = [a for a in found if a["kind"] == "line-truncated"]
    assert cut["details"]["line"] == len(lines) + 1 and cut["time"].startswith("2026-11-25T")
