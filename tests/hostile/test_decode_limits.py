"""Bounded resources and every byte of a gzip stream, through the real CLI: a line of 100 MB, a gzip
bomb, zero padding, several members, garbage after the stream, a cut and a damaged stream."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from exectrail.model import Diagnostics
from exectrail.parse.logfile import MAX_LINE_BYTES, ReadStats, read_records
from tests.support.paths import DATA

LOG = (DATA / "workload_enriched.log").read_bytes()
LINES = LOG.splitlines(keepends=True)
HEAD, TAIL = b"".join(LINES[:600]), b"".join(LINES[600:])
MB = 1 << 20
PEAK_RSS_LIMIT = 150 * MB  # review of the plain captured log peaks near 40 MB


# Linux carries a process's peak RSS over fork+exec (exec records the forked copy of the parent's
# memory), so a child of a big pytest would report pytest's peak. A small launcher in between
# forks from its own small memory and reports its child's peak: "STATUS MAXRSS_KB" in argv[1].
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def measured(*args: str | Path, tmp: Path) -> tuple[int, str, str, float, int]:
    """Run the CLI: exit status, stdout, stderr, seconds and the peak RSS (bytes) of that process."""
    out, err, report = tmp / "stdout", tmp / "stderr", tmp / "rusage"
    cmd = [sys.executable, "-c", LAUNCHER, str(report), "-m", "exectrail.cli.main", *map(str, args)]
    start = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        subprocess.run(cmd, stdout=stdout, stderr=stderr, check=True, timeout=300)
    seconds = time.monotonic() - start
    status, maxrss_kb = map(int, report.read_text().split())
    text = err.read_text(errors="replace")
    assert "Traceback" not in text and "internal error" not in text, text
    return status, out.read_text(errors="replace"), text, seconds, maxrss_kb * 1024


def exec_count(stdout: str) -> int:
    return sum(json.loads(line)["type"] == "exec" for line in stdout.splitlines())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> int:
    tmp = tmp_path_factory.mktemp("ref")
    (tmp / "audit.log").write_bytes(LOG)
    code, out, err, _, _ = measured("review", "--format", "jsonl", tmp / "audit.log", tmp=tmp)
    assert code == 0, err
    return exec_count(out)


@pytest.fixture(scope="module")
def head_execs(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Exec events in the first 600 lines of the log alone."""
    return exec_count_of(HEAD, tmp_path_factory.mktemp("head"))


@pytest.mark.parametrize("where", ["middle", "last"])
def test_a_100_mb_line_is_skipped_in_bounded_memory(
    tmp_path: Path, reference: int, head_execs: int, where: str
) -> None:
    size = 100 * MB
    path = tmp_path / "long.log"
    with path.open("wb") as out:
        out.write(HEAD)
        for _ in range(size // MB):
            out.write(b"A" * MB)  # no newline in 100 MB
        out.write(b"\n" + TAIL if where == "middle" else b"")
    code, stdout, err, seconds, rss = measured("review", "--format", "jsonl", "-v", path, tmp=tmp_path)
    path.unlink()  # (pytest keeps the last runs' tmp dirs)
    print(f"100 MB line ({where}): review {seconds:.2f} s, peak RSS {rss / MB:.0f} MB")
    assert code == 0, err
    assert f"{path}:601: line-too-long: a line of {size:,} bytes" in err
    assert "1 line-too-long" in err
    assert exec_count(stdout) == (reference if where == "middle" else head_execs)
    assert rss < PEAK_RSS_LIMIT
    assert seconds < 20


def exec_count_of(text: bytes, tmp: Path) -> int:
    path = tmp / "part.log"
    path.write_bytes(text)
    code, out, err, _, _ = measured("review", "--format", "jsonl", path, tmp=tmp)
    assert code == 0, err
    return exec_count(out)


def test_line_bound_is_exact(tmp_path: Path) -> None:
    """A record line of exactly MAX_LINE_BYTES is read; one byte more is too long."""
    record = LINES[1].partition(b"\x1d")[0]  # the raw part of a SYSCALL line
    fits = record + b" x=" + b"A" * (MAX_LINE_BYTES - len(record) - 3)
    assert len(fits) == MAX_LINE_BYTES
    path = tmp_path / "edge.log"
    path.write_bytes(b"".join(LINES[:3]) + fits + b"\n" + fits + b"A\n" + b"".join(LINES[3:6]))
    diagnostics, stats = Diagnostics(), ReadStats()
    records = list(read_records([path], diagnostics, stats))
    assert len(records) == 3 + 1 + 3 and records[3].body.endswith(b"A" * 100)
    assert diagnostics.counts == {"line-too-long": 1} and stats.lines == 8
    assert diagnostics.samples[0].origin == f"{path}:5"


def test_gzip_bomb_streams_in_bounded_memory(tmp_path: Path, reference: int) -> None:
    """300 MB of zeros between two halves of the log, compressed to about 300 KB."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [deflate.compress(HEAD)]
    zeros = bytes(MB)
    parts += [deflate.compress(zeros) for _ in range(300)]
    parts += [deflate.compress(b"\n" + TAIL), deflate.flush()]
    path = tmp_path / "bomb.log.gz"
    path.write_bytes(b"".join(parts))
    assert path.stat().st_size < 2 * MB
    code, stdout, err, seconds, rss = measured("review", "--format", "jsonl", "-v", path, tmp=tmp_path)
    print(f"gzip bomb (300 MB of zeros): review {seconds:.2f} s, peak RSS {rss / MB:.0f} MB")
    assert code == 0, err
    assert f"{path}:601: line-too-long: a line of {300 * MB:,} bytes" in err
    assert exec_count(stdout) == reference
    assert rss < PEAK_RSS_LIMIT


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


GZIP_CASES = {
    # name: (file bytes, exit status, diagnostics, whole log kept)
    "members": (_gz(HEAD) + _gz(TAIL), 0, "none", True),
    "zero-padding": (_gz(LOG) + bytes(70_000), 0, "none", True),
    "members-and-padding": (_gz(HEAD) + bytes(7) + _gz(TAIL) + bytes(512), 0, "none", True),
    "garbage-after": (_gz(LOG) + b"not gzip\n", 1, "1 damaged-file", True),
    "one-byte-after": (_gz(LOG) + b"\x01", 1, "1 damaged-file", True),
    "garbage-between": (_gz(HEAD) + b"junk" + _gz(TAIL), 1, "1 damaged-file", False),
}


@pytest.mark.parametrize("case", sorted(GZIP_CASES))
def test_gzip_streams_keep_every_event(tmp_path: Path, reference: int, head_execs: int, case: str) -> None:
    data, status, diagnostics, whole = GZIP_CASES[case]
    path = tmp_path / f"{case}.log.gz"
    path.write_bytes(data)
    code, stdout, err, _, _ = measured("review", "--format", "jsonl", path, tmp=tmp_path)
    assert code == status, err
    assert f"diagnostics: {diagnostics};" in err
    expected = reference if whole else head_execs
    assert exec_count(stdout) == expected
    if status:
        assert (
            f"{path}: damaged compressed file: unreadable data after the end of the compressed stream" in err
        )
    db = tmp_path / "events.db"
    code, _, err, _, _ = measured("import", "--db", db, "--no-alarms", path, tmp=tmp_path)
    assert code == status, err
    code, stdout, err, _, _ = measured("search", "--db", db, "--format", "jsonl", tmp=tmp_path)
    assert code == 0 and exec_count(stdout) == expected, err


def test_cut_and_damaged_gzip_keep_what_was_before(tmp_path: Path, reference: int) -> None:
    whole = _gz(LOG * 3)
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(whole[:-50])
    diagnostics, stats = Diagnostics(), ReadStats()
    records = list(read_records([cut], diagnostics, stats))
    assert len(records) >= 3 * len(LINES) - 1  # at most the cut last line is lost
    assert diagnostics.counts["truncated-file"] == 1
    complete = zlib.decompressobj(wbits=31).decompress(whole[:-50]).count(b"\n")
    ends = "compressed stream ends before its end marker"
    assert stats.problems == [f"{cut}: truncated compressed file: {ends} after line {complete}"]
    middle = len(whole) // 2
    damaged = tmp_path / "damaged.log.gz"
    damaged.write_bytes(whole[:middle] + bytes(300) + whole[middle + 300 :])
    diagnostics, stats = Diagnostics(), ReadStats()
    records = list(read_records([damaged], diagnostics, stats))
    assert diagnostics.counts["damaged-file"] == 1
    assert stats.problems[0].startswith(
        f"{damaged}: damaged compressed file: damaged compressed data after line"
    )
    assert "Error" not in stats.problems[0]  # no zlib exception text
    # everything up to a little before the damage: the bytes before it in the stream are kept
    assert len(records) > 1.2 * len(LINES)
    code, _, err, _, _ = measured("alarms", "--format", "jsonl", damaged, tmp=tmp_path)
    assert code == 1 and "damaged compressed file" in err
