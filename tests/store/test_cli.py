"""The store commands end to end: import summaries, every query in every format, the real entry point."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exectrail.jsonform import event_to_dict
from exectrail.model import ExecEvent
from tests.support.captures import manifest, read_events
from tests.support.cli import run
from tests.support.paths import CAPTURED_LOGS as LOGS
from tests.support.paths import DATA


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_import_summary_new_duplicate_bad(db: Path, tmp_path: Path, real_events: list[ExecEvent]) -> None:
    first = run("import", "--db", str(db), *map(str, LOGS))
    assert first.exit_code == 0, first.stderr
    assert first.stderr.startswith(f"exectrail: {len(real_events)} new, 0 duplicate, 0 bad (none)")
    again = run("import", "--db", str(db), str(LOGS[0]))
    assert again.stderr.startswith("exectrail: 0 new, ")
    damaged = tmp_path / "damaged.log"
    lines = (DATA / "workload_enriched.log").read_bytes().splitlines(keepends=True)
    damaged.write_bytes(b"".join(lines[:40]) + b"garbage line\x00\xff\n" + b"".join(lines[40:]))
    third = run("import", "--db", str(db), str(damaged))
    assert third.exit_code == 0
    assert third.stderr.startswith("exectrail: 0 new, ") and " 1 bad (1 " in third.stderr


def test_import_reports_duplicates_exactly(db: Path) -> None:
    run("import", "--db", str(db), str(LOGS[0]))
    result = run("import", "--db", str(db), str(LOGS[0]), str(LOGS[2]))
    n0, n2 = (len(read_events(LOGS[i])) for i in (0, 2))
    assert result.stderr.startswith(f"exectrail: {n2} new, {n0} duplicate, 0 bad")


def test_search_formats(filled: Path, real_events: list[ExecEvent]) -> None:
    lines = _jsonl(run("search", "--db", str(filled), "--format", "jsonl", "--comm", "exec_chain").stdout)
    chain = [e for e in real_events if e.comm == "exec_chain"]
    expected = [event_to_dict(e) for e in sorted(chain, key=lambda e: (e.time, e.serial, e.node or ""))]
    assert [d["serial"] for d in lines] == [d["serial"] for d in expected] and lines[0] == expected[0]
    out = run("search", "--db", str(filled), "--format", "csv", "--text", "exec_chain", "--limit", "4").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 and all("exec_chain" in r["argv"] for r in rows) and "argv_hex" in rows[0]
    table = run("search", "--db", str(filled), "--format", "table", "--text", "exec_chain", "--limit", "1")
    assert "exec_chain" in table.stdout and table.stderr.startswith("exectrail: 1 events found")
    nothing = run("search", "--db", str(filled), "--format", "table", "--text", "nosuchword")
    assert "(no exec events)" in nothing.stdout and nothing.exit_code == 0


def test_search_bad_options(filled: Path) -> None:
    assert run("search", "--db", str(filled), "--text", "--").exit_code == 2
    assert run("search", "--db", str(filled), "--start", "garbage").exit_code == 2
    assert run("search", "--db", str(filled), "--pid", "x").exit_code == 2


def test_tree_formats(filled: Path) -> None:
    info = manifest("interleaved_concurrent")
    pid = info["cases"][0]["pid"]
    nodes = _jsonl(run("tree", str(pid), "--db", str(filled), "--format", "jsonl").stdout)
    target = next(n for n in nodes if n["role"] == "target")
    assert (
        target["pid"] == pid
        and len(target["execs"]) == 6
        and target["execs"][0]["argv"][1:] == ["5", "concurrent-0"]
    )
    assert [n["role"] for n in nodes][:2] == ["ancestor", "ancestor"] and nodes[1]["pid"] == info["runner"][
        "pid"
    ]
    rows = list(
        csv.DictReader(io.StringIO(run("tree", str(pid), "--db", str(filled), "--format", "csv").stdout))
    )
    assert [r["role"] for r in rows].count("target") == 6
    table = run("tree", str(pid), "--db", str(filled), "--format", "table").stdout
    assert f"pid {pid}" in table and "(no exec recorded)" in table and "concurrent-0" in table
    missing = run("tree", "999999", "--db", str(filled))
    assert missing.exit_code == 1 and "no exec of pid 999999" in missing.stderr


def test_timeline_formats(filled: Path, real_events: list[ExecEvent]) -> None:
    listing = _jsonl(run("timeline", "--db", str(filled), "--format", "jsonl").stdout)
    assert listing == [{"type": "session", "ses": None, "auid": None, "user": None, "ttys": "",
                        "first": listing[0]["first"], "last": listing[0]["last"], "events": len(real_events),
                        "failed": sum(not e.success for e in real_events)}]  # fmt: skip
    events = _jsonl(run("timeline", "--db", str(filled), "--session", "unset", "--format", "jsonl").stdout)
    assert len(events) == len(real_events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert run("timeline", "--db", str(filled), "--auid", "1000", "--format", "jsonl").stdout == ""
    assert run("timeline", "--db", str(filled), "--session", "x").exit_code == 2
    assert "sessions" in run("timeline", "--db", str(filled), "--format", "table").stdout


def test_report_formats(filled: Path, real_events: list[ExecEvent]) -> None:
    items = _jsonl(run("report", "--db", str(filled), "--format", "jsonl", "--top", "3").stdout)
    assert items[0] == {"type": "report", "section": "summary", "total": len(real_events),
                        "failed": sum(not e.success for e in real_events), "first": items[0]["first"],
                        "last": items[0]["last"]}  # fmt: skip
    sections = {i["section"] for i in items}
    assert sections >= {"top_exes", "top_users", "failures", "first_seen", "writable", "per_hour"}
    users = next(i for i in items if i["section"] == "top_users")
    assert users == {
        "type": "report",
        "section": "top_users",
        "uid": 0,
        "name": "root",
        "count": len(real_events),
    }
    enoent = [i for i in items if i["section"] == "failures"]
    assert enoent and all(i["errno"] == "ENOENT" for i in enoent[:1])
    rows = list(csv.DictReader(io.StringIO(run("report", "--db", str(filled), "--format", "csv").stdout)))
    assert {r["section"] for r in rows} == sections - {"summary"}
    table = run("report", "--db", str(filled), "--format", "table").stdout
    for title in (
        "Top executables",
        "Top users",
        "Failed execs",
        "First seen",
        "writable or hidden",
        "per hour",
    ):
        assert title in table
    filtered = _jsonl(run("report", "--db", str(filled), "--format", "jsonl", "--success", "no").stdout)
    assert filtered[0]["total"] == filtered[0]["failed"]


@pytest.mark.parametrize("command", ["import", "search", "tree", "timeline", "report", "verify"])
def test_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0 and "--db" in result.stdout


def test_real_entry_point(tmp_path: Path) -> None:
    """The installed ``exectrail`` script: import, search and verify as separate processes."""
    db = tmp_path / "e.db"
    script = Path(sys.executable).with_name("exectrail")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "exectrail.cli.main"]
    env = {"PATH": "/usr/bin:/bin", "EXECTRAIL_DB": str(db)}
    imported = subprocess.run(
        [*cli, "import", str(LOGS[2])], capture_output=True, text=True, env=env, timeout=120
    )
    assert imported.returncode == 0, imported.stderr
    words = ["search", "--text", "concurrent-7", "--format", "jsonl"]
    found = subprocess.run([*cli, *words], capture_output=True, text=True, env=env, timeout=120)
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 6
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen([*cli, "search", "--format", "jsonl"], env=env, **pipes) as reader:  # type: ignore[call-overload]
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.readline()
        reader.stdout.close()  # like `| head -1`
        # a closed pipe ends the command quietly with 141 (128 + SIGPIPE), as the shell shows for any tool
        assert reader.wait(timeout=120) == 141 and reader.stderr.read() == b""
    verified = subprocess.run([*cli, "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert verified.returncode == 0 and verified.stdout.startswith("intact: ")


def test_import_from_stdin(db: Path, real_events: list[ExecEvent]) -> None:
    data = LOGS[0].read_bytes()
    result = run("import", "--db", str(db), "-", str(LOGS[2]), input=data)
    expected = len(read_events(LOGS[0])) + len(read_events(LOGS[2]))
    assert result.exit_code == 0 and f"exectrail: {expected} new, 0 duplicate" in result.stderr
