"""Hostile lines through the real CLI: CRLF endings, auditd 1.x headers, blank lines, header numbers
out of range, non-UTF-8 node names and binary files (files derived from the captured log)."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exectrail.model import Diagnostics
from exectrail.parse.logfile import ReadStats, read_records
from exectrail.parse.record import MalformedRecord, parse_line, parse_netlink
from tests.support.paths import DATA

LOG = (DATA / "workload_enriched.log").read_bytes()
LINES = LOG.splitlines(keepends=True)
SECOND_LAST = len(LINES) - 1  # a line to damage well inside the file


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "exectrail.cli.main", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape", timeout=120)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode != 70
    return proc


def review(path: Path, *extra: str) -> tuple[int, list[dict[str, object]], str]:
    proc = run("review", "--format", "jsonl", "-v", *extra, path)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def execs(objects: list[dict[str, object]]) -> list[dict[str, object]]:
    return [o for o in objects if o["type"] == "exec"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    path = tmp_path_factory.mktemp("ref") / "audit.log"
    path.write_bytes(LOG)
    code, objects, _ = review(path)
    assert code == 0 and len(execs(objects)) > 200
    return execs(objects)


def test_crlf_log_decodes_as_the_original(tmp_path: Path, reference: list[dict[str, object]]) -> None:
    path = tmp_path / "crlf.log"
    path.write_bytes(LOG.replace(b"\n", b"\r\n"))
    code, objects, err = review(path)
    assert code == 0, err
    assert execs(objects) == reference  # cwd without quotes or \r, proctitle decoded, not hex
    assert "diagnostics: none" in err
    assert any(e["proctitle"] and " " in str(e["proctitle"]) for e in reference)


def test_auditd_1x_headers_and_blank_lines(tmp_path: Path, reference: list[dict[str, object]]) -> None:
    """``msg=audit(…)`` without the colon, and empty or blank lines between records."""
    old = LOG.replace(b"): ", b") ")
    assert old.count(b") ") >= len(LINES)
    blanks = old.replace(b"\n", b"\n\n", 40).replace(b"\ntype=EXECVE", b"\n \t\ntype=EXECVE", 5)
    path = tmp_path / "auditd1.log"
    path.write_bytes(b"\n" + blanks)
    code, objects, err = review(path)
    assert code == 0, err
    assert execs(objects) == reference
    assert "diagnostics: none" in err
    lines = len(LINES) + 1 + 40 + 5
    assert f"from {lines} lines" in err


def test_netlink_payload_in_both_header_forms() -> None:
    new = parse_netlink(1309, b'audit(1795617647.510:8): argc=1 a0="ls"\x00')
    old = parse_netlink(1309, b'audit(1795617647.510:8) argc=1 a0="ls"')
    assert (
        (old.type, old.key, old.body)
        == (new.type, new.key, new.body)
        == ("EXECVE", b"1795617647.510:8", b'argc=1 a0="ls"')
    )
    with pytest.raises(MalformedRecord) as caught:
        parse_netlink(1309, b"audit(1795617647.510:8)argc=1")
    assert caught.value.kind == "malformed-message"


OUT_OF_RANGE = [
    (b"99999999999999999.123:5", "time 99999999999999999 is past year 9999"),
    (b"253402300800.000:5", "time 253402300800 is past year 9999"),
    (b"1795617647.123:9223372036854775808", "serial 9223372036854775808 is too large (2^63 or more)"),
    (b"1795617647.12:5", "time 1795617647.12 has 2 digits of milliseconds, not 3"),
    (b"1795617647.1234:5", "time 1795617647.1234 has 4 digits of milliseconds, not 3"),
    (b"1" * 5000 + b".123:5", "time 11111111111111111111... (5000 digits) is past year 9999"),
]


@pytest.mark.parametrize(("key", "reason"), OUT_OF_RANGE)
def test_out_of_range_numbers_are_a_diagnostic(key: bytes, reason: str) -> None:
    line = b"type=SYSCALL msg=audit(" + key + b"): arch=c000003e syscall=59\n"
    with pytest.raises(MalformedRecord) as caught:
        parse_line(line)
    assert (caught.value.kind, caught.value.reason) == ("out-of-range", reason)
    with pytest.raises(MalformedRecord) as caught:
        parse_netlink(1300, b"audit(" + key + b"): arch=c000003e")
    assert caught.value.kind == "out-of-range"


def test_largest_numbers_in_range_give_usable_records() -> None:
    rec = parse_line(b"type=SYSCALL msg=audit(253402300799.999:9223372036854775807): arch=c000003e\n")
    assert (rec.seconds, rec.milliseconds, rec.serial) == (253402300799, 999, (1 << 63) - 1)
    assert rec.time.year == 9999
    rec = parse_netlink(1300, b"audit(0.000:0): x=1")
    assert (rec.time.year, rec.serial) == (1970, 0)


def _with_bad_headers() -> bytes:
    """The captured log with an out-of-range copy of line SECOND_LAST's header at three places: a
    17-digit time, a serial of 2^63, a time in year 10000 (each is a whole record of its own)."""
    lines = list(LINES)
    body = LINES[SECOND_LAST].partition(b"): ")[2]
    for at, key in (
        (3, b"99999999999999999.123:5"),
        (100, b"1.000:9223372036854775808"),
        (600, b"253402300800.000:7"),
    ):
        lines.insert(at, b"type=SYSCALL msg=audit(" + key + b"): " + body)
    return b"".join(lines)


def test_out_of_range_lines_review_alarms_and_import(
    tmp_path: Path, reference: list[dict[str, object]]
) -> None:
    path = tmp_path / "range.log"
    path.write_bytes(_with_bad_headers())
    code, objects, err = review(path)
    assert code == 0, err
    assert execs(objects) == reference
    assert "3 out-of-range" in err
    assert f"{path}:4: out-of-range: time 99999999999999999 is past year 9999" in err
    assert f"{path}:101: out-of-range: serial 9223372036854775808 is too large" in err
    proc = run("alarms", "--format", "jsonl", path)
    assert proc.returncode in (0, 3), proc.stderr
    for line in proc.stdout.splitlines():
        assert json.loads(line)["time"] > "2026"  # no alarm built from a bad header
    db = tmp_path / "events.db"
    proc = run("import", "--db", db, "--no-alarms", path)
    assert proc.returncode == 0, proc.stderr
    proc = run("search", "--db", db, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == len(reference)


def test_non_utf8_node_name_survives() -> None:
    node = b"web\xff\xfe-1"
    rec = parse_line(b"node=" + node + b' type=CWD msg=audit(1795617647.510:8): cwd="/tmp"\n')
    assert rec.node is not None and rec.node.encode("utf-8", "surrogateescape") == node
    again = parse_line(b"node=" + node + b" type=PATH msg=audit(1795617647.510:8): item=0\n")  # cached
    assert again.node == rec.node


def test_random_binary_file_is_not_an_audit_log(tmp_path: Path) -> None:
    data = random.Random(11).randbytes(300_000) + bytes(5000)
    data = b"\x00" + data  # not the gzip magic
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    diagnostics, stats = Diagnostics(), ReadStats()
    assert list(read_records([path], diagnostics, stats)) == []
    pieces = data.split(b"\n")
    lines = len(pieces) - (pieces[-1] == b"")
    garbage = sum(1 for piece in pieces if piece.strip())  # blank lines are no diagnostic
    assert 1000 < garbage < lines
    assert stats.lines == lines and diagnostics.counts == {"malformed-line": garbage}
    assert stats.problems == [f"{path}: not an audit log ({lines} lines, none is an audit record)"]
    code, objects, err = review(path)
    assert code == 1 and execs(objects) == []
    assert f"{path}: not an audit log ({lines} lines, none is an audit record)" in err
    assert f"{garbage} malformed-line" in err
    for command in ("alarms", "import", "check-procs"):
        extra: list[str | Path] = (
            ["--db", tmp_path / "x.db"] if command == "import" else ["--format", "jsonl"]
        )
        proc = run(command, *extra, path)
        assert proc.returncode == 1, proc.stderr
        assert "not an audit log" in proc.stderr
    assert os.path.getsize(path) == len(data)


def test_largest_header_in_range_goes_through_review_and_the_store(tmp_path: Path) -> None:
    """An exec stamped 9999-12-31T23:59:59.999Z with serial 2^63-1 is shown, stored and found."""
    first = next(line for line in LINES if b" syscall=59 " in line)
    key = first.partition(b"msg=audit(")[2].partition(b")")[0]
    largest = b"253402300799.999:9223372036854775807"
    path = tmp_path / "largest.log"
    path.write_bytes(b"".join(line.replace(key, largest) for line in LINES if b"(" + key + b")" in line))
    code, objects, err = review(path)
    assert code == 0 and "diagnostics: none" in err, err
    (event,) = execs(objects)
    assert (event["time"], event["serial"]) == ("9999-12-31T23:59:59.999Z", (1 << 63) - 1)
    db = tmp_path / "events.db"
    assert run("import", "--db", db, path).returncode == 0
    proc = run("search", "--db", db, "--format", "jsonl")
    assert proc.returncode == 0 and [json.loads(line) for line in proc.stdout.splitlines()] == [event]


def test_stdin_gzip_members_with_crlf(reference: list[dict[str, object]]) -> None:
    """``review -``: the same reader for a pipe, here a two-member gzip of a CRLF log with padding."""
    crlf = LOG.replace(b"\n", b"\r\n")
    half = crlf.index(b"\r\n", len(crlf) // 2) + 2
    data = gzip.compress(crlf[:half]) + gzip.compress(crlf[half:]) + bytes(1000)
    cmd = [sys.executable, "-m", "exectrail.cli.main", "review", "--format", "jsonl", "-"]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert b"diagnostics: none" in proc.stderr
    assert execs([json.loads(line) for line in proc.stdout.splitlines()]) == reference


def test_empty_file_is_no_problem(tmp_path: Path) -> None:
    """An empty log (a fresh rotation) is no problem; one of blank lines only is not an audit log."""
    empty, blank = tmp_path / "audit.log", tmp_path / "blank.log"
    empty.write_bytes(b"")
    blank.write_bytes(b"\n \n\r\n")
    stats = ReadStats()
    assert list(read_records([empty], Diagnostics(), stats)) == [] and stats.problems == []
    code, objects, err = review(empty)
    assert code == 0 and objects == [], err
    diagnostics, stats = Diagnostics(), ReadStats()
    assert list(read_records([blank], diagnostics, stats)) == [] and diagnostics.total == 0
    assert stats.problems == [f"{blank}: not an audit log (3 lines, none is an audit record)"]


def test_long_type_and_node_names_are_not_cached() -> None:
    """The parser's name caches hold at most 4096 short names: 4096 lines with distinct names of
    100 KB each cannot make them hold 400 MB."""
    from exectrail.parse import record

    for n in range(3):
        name = b"X%d" % n + b"Y" * 100_000
        rec = parse_line(b"node=" + name + b" type=" + name + b" msg=audit(1.000:1): a=1\n")
        assert rec.type == rec.node == name.decode()
    caches = (record._TYPE_NAMES, record._TYPE_TOKENS, record._NODE_TOKENS)
    assert max(len(key) for cache in caches for key in cache) <= 300


@pytest.mark.parametrize("gzipped", [True, False])
def test_stdin_that_gives_one_byte_first(reference: list[dict[str, object]], gzipped: bool) -> None:
    """``… | review -`` where the pipe's first read holds one byte: gzip is still recognised (and a
    plain log that starts with that byte keeps it)."""
    data = gzip.compress(LOG) if gzipped else b"\x1f" + LOG
    cmd = [sys.executable, "-m", "exectrail.cli.main", "review", "--format", "jsonl", "-v", "-"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(data[:1])
    proc.stdin.flush()
    time.sleep(1.0)  # the reader is waiting on the pipe with one byte in it
    out, err = proc.communicate(data[1:], timeout=120)
    assert proc.returncode == 0, err
    assert execs([json.loads(line) for line in out.splitlines()]) == reference
    expected = b"diagnostics: none" if gzipped else b"-:1: malformed-line"  # the first line, damaged
    assert expected in err
