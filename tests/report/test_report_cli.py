"""``exectrail report --html``: the same case from log files and from the store they were imported
into; the counts ``review`` and ``alarms`` give; the filter said in the file; the evidence it is tied
to (input hashes, chain heads); usage errors; and an output path an attacker prepared."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.casedata import column, decoded_events, read_case
from tests.support.cli import run_cli
from tests.support.paths import DATA

LOGS = [DATA / "workload_enriched.log", DATA / "interleaved_concurrent.log"]


def html_report(tmp_path: Path, *args: str, name: str = "case.html") -> dict[str, Any]:
    out = tmp_path / name
    result = run_cli(["report", "--html", str(out), *args])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return read_case(out)


def jsonl(*args: str) -> list[dict[str, Any]]:
    result = run_cli([*args, "--format", "jsonl"])
    assert result.exit_code in (0, 3), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "events.db"
    result = run_cli(["import", "--db", str(db), *map(str, LOGS)])
    assert result.exit_code in (0, 3), result.stderr
    return db


def test_from_logs_counts_what_review_and_alarms_count(tmp_path: Path) -> None:
    data = html_report(tmp_path, *map(str, LOGS))
    events = jsonl("review", "--no-alarms", *map(str, LOGS))
    alarms = jsonl("alarms", *map(str, LOGS))
    summary = data["summary"]
    assert summary["events"] == summary["included"] == len(events) > 500
    assert summary["failed"] == sum(1 for e in events if e["success"] is False) > 0
    assert sorted(a["kind"] for a in data["alarms"]) == sorted(a["kind"] for a in alarms)
    assert summary["alarms"] == len(alarms)
    assert sorted(str(e["exec_id"]) for e in events) == sorted(str(e.exec_id) for e in decoded_events(data))
    assert data["made"]["source"]["kind"] == "logs"


def test_from_the_store_is_the_same_case(tmp_path: Path, store: Path) -> None:
    from_logs = html_report(tmp_path, *map(str, LOGS), name="logs.html")
    from_store = html_report(tmp_path, "--db", str(store), name="store.html")
    assert decoded_events(from_store) == decoded_events(from_logs)
    assert from_store["parent"] == from_logs["parent"]
    assert [a["kind"] for a in from_store["alarms"]] == [a["kind"] for a in from_logs["alarms"]]
    head = run_cli(["verify", "--head", "--db", str(store)])
    assert head.exit_code == 0, head.stderr
    assert from_store["summary"]["chain"] == head.stdout.strip()
    assert from_store["summary"]["inputs"] == [] and from_logs["summary"]["chain"] is None


def test_log_files_are_named_with_their_hashes(tmp_path: Path) -> None:
    gz = DATA / "workload_raw_node.log.gz"
    data = html_report(tmp_path, str(LOGS[0]), str(gz))
    inputs = data["summary"]["inputs"]
    assert [i["name"] for i in inputs] == [str(LOGS[0]), str(gz)]
    for entry, path in zip(inputs, (LOGS[0], gz), strict=True):
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_standard_input_is_named_but_not_hashed(tmp_path: Path) -> None:
    out = tmp_path / "stdin.html"
    result = run_cli(["report", "--html", str(out), "-"], input=LOGS[0].read_bytes())
    assert result.exit_code == 0, result.stderr
    data = read_case(out)
    assert data["summary"]["included"] > 0
    assert data["summary"]["inputs"][0]["sha256"] is None
    assert "standard input" in data["summary"]["inputs"][0]["note"]


def test_the_filter_is_applied_and_said(tmp_path: Path, store: Path) -> None:
    data = html_report(tmp_path, "--db", str(store), "--success", "no", "--uid", "0")
    failed = jsonl("search", "--db", str(store), "--success", "no", "--uid", "0")
    assert data["summary"]["included"] == len(failed) > 0
    assert set(column(data, data["columns"]["success"])) == {False}
    assert data["summary"]["filter"] == "--uid 0 --success no"


def test_a_cap_says_what_was_left_out(tmp_path: Path) -> None:
    data = html_report(tmp_path, *map(str, LOGS), "--max-events", "50")
    summary = data["summary"]
    assert summary["included"] == 50 and summary["events"] > 50
    assert "first 50 of" in summary["cut"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--format", "jsonl"], "--html writes its own format"),
        (["--db", "x.db", str(LOGS[0])], "not several"),
        (["--max-events", "0"], "0"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], reason: str) -> None:
    result = run_cli(["report", "--html", str(tmp_path / "x.html"), *args])
    assert result.exit_code == 2 and reason in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.html").exists()


def test_log_files_without_html_are_a_usage_error() -> None:
    result = run_cli(["report", str(LOGS[0])])
    assert result.exit_code == 2 and "--html" in result.stderr


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    out = tmp_path / "case.html"
    out.symlink_to(victim)
    result = run_cli(["report", "--html", str(out), str(LOGS[0])])
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "keep me"
    assert not out.is_symlink() and read_case(out)["summary"]["included"] > 0
    assert (out.stat().st_mode & 0o077) == 0  # evidence stays private until the responder shares it


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # not sticky: anyone could swap the file
    result = run_cli(["report", "--html", str(shared / "case.html"), str(LOGS[0])])
    assert result.exit_code == 2, result.stderr
    assert "writable by others" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (shared / "case.html").exists()


def test_a_missing_directory_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli(["report", "--html", str(tmp_path / "no" / "case.html"), str(LOGS[0])])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_store_is_checked_and_says_so(tmp_path: Path, store: Path) -> None:
    assert html_report(tmp_path, "--db", str(store))["summary"]["verified"] is True
    assert html_report(tmp_path, "--db", str(store), "--no-verify")["summary"]["verified"] is None
    edited = tmp_path / "edited.db"
    edited.write_bytes(store.read_bytes())
    edited.chmod(0o600)
    with sqlite3.connect(edited) as conn:  # a value changed, the chain left alone
        conn.execute("UPDATE events SET cwd = '/elsewhere' WHERE seq = 3")
    conn.close()
    summary = html_report(tmp_path, "--db", str(edited))["summary"]
    assert summary["verified"] is False
    assert any("hash chain broken at row 3" in p for p in summary["problems"])
    assert html_report(tmp_path, *map(str, LOGS))["summary"]["verified"] is None
