"""``script`` and ``fileless`` flow through the whole pipeline: the captured logs' ``#!`` exec, fexecve and
execveat events get them through ``review --format jsonl`` and through ``import`` + ``search``, with the
same values (both come from the event's own records), and CSV carries them as the store does.

The expected values are read off the records of tests/data/workload_enriched.log by hand (quoted below).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from exectrail.schema import CONTEXT_FIELDS
from tests.support.cli import run_cli
from tests.support.paths import CAPTURED_LOGS

ENRICHED = CAPTURED_LOGS[0]
WORK = "/tmp/exectrail-record-s68akxtj/w"
#: serial -> (script, fileless), from the records of workload_enriched.log
EXPECTED: dict[int, tuple[str | None, list[str]]] = {
    # SYSCALL exe="/usr/bin/dash"; EXECVE a0="/bin/sh" a1=".../w/script.sh"; PATH item=0 name=".../script.sh",
    # item=1 name="/bin/sh", item=2 the loader: a #! exec of script.sh, the interpreter not in a scratch dir
    1075: (f"{WORK}/script.sh", []),
    # arch=40000003 syscall=358 (i386 execveat), PATH item=0 name="": fexecve
    1082: (None, ["fd"]),
    # syscall=322 (execveat), PATH item=0 name="true" relative to a dirfd, exe="/usr/bin/true": nothing odd
    1090: (None, []),
    # exe=".../w/bin/true-copy" under /tmp, argv ./true-copy rel
    1064: (None, ["scratch-dir"]),
    # exe="/root/.pyenv/versions/3.11.7/bin/python3.11" (a hidden directory), a1="/work/main/tests/support/
    # workload/run.py": python told to run that file
    884: ("/work/main/tests/support/workload/run.py", ["scratch-dir"]),
    # a failed exec (exit=-2), PATH item=0 name="/usr/local/sbin/gcc": judged by the file it named, no script
    896: (None, []),
}


def _jsonl(output: str) -> list[dict[str, Any]]:
    return [d for d in map(orjson.loads, output.splitlines()) if d["type"] == "exec"]


def _context(events: list[dict[str, Any]]) -> dict[int, tuple[Any, ...]]:
    return {e["serial"]: (e["script"], e["fileless"]) for e in events}


def _stream_context(events: list[dict[str, Any]]) -> dict[int, tuple[Any, ...]]:
    return {e["serial"]: (e["exec_id"], e["parent_exec_id"], e["parent"], e["uid_name"]) for e in events}


@pytest.fixture(scope="module")
def reviewed() -> list[dict[str, Any]]:
    result = run_cli(["review", "--format", "jsonl", str(ENRICHED)])
    assert result.exit_code == 0, result.stderr
    return _jsonl(result.stdout)


def test_review_gives_the_context_of_the_records(reviewed: list[dict[str, Any]]) -> None:
    found = _context(reviewed)
    assert {serial: found[serial] for serial in EXPECTED} == EXPECTED
    context = [f.name for f in CONTEXT_FIELDS]
    assert all([k for k in e if not k.endswith("_hex")][-len(context) - 1 :] == ["incomplete", *context]
               for e in reviewed)  # fmt: skip


def test_review_gives_exec_ids_parents_and_auditds_names(reviewed: list[dict[str, Any]]) -> None:
    ids = [e["exec_id"] for e in reviewed]
    assert len(set(ids)) == len(ids) and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    by_id = {e["exec_id"]: e for e in reviewed}
    with_parent = [e for e in reviewed if e["parent_exec_id"] is not None]
    assert len(with_parent) > len(reviewed) // 2
    for event in with_parent:
        parent = by_id[event["parent_exec_id"]]
        assert event["parent"] == {
            "exec_id": parent["exec_id"],
            "pid": parent["pid"],
            "exe": parent["exe"],
            "argv": parent["argv"],
            "time": parent["time"],
            "source": "trail",
        }
        assert parent["pid"] == event["ppid"] and parent["success"] and parent["time"] <= event["time"]
    # an ENRICHED log: auditd's names for root, none for the unset login uid
    assert {(e["uid_name"], e["auid_name"], e["gid_name"], e["names_source"]) for e in reviewed} == {
        ("root", None, "root", "auditd")
    }
    assert {(e["exe_hash"], e["exe_hash_missing"], e["env"], e["env_missing"]) for e in reviewed} == {
        (None, "not-live", None, "not-live")
    }


def test_import_and_search_give_what_review_gives(reviewed: list[dict[str, Any]], tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    imported = run_cli(["import", "--db", str(db), str(ENRICHED)])
    assert imported.exit_code == 0, imported.stderr
    searched = run_cli(["search", "--db", str(db), "--format", "jsonl"])
    assert searched.exit_code == 0, searched.stderr
    assert _context(_jsonl(searched.stdout)) == _context(reviewed)
    assert _stream_context(_jsonl(searched.stdout)) == _stream_context(reviewed)
    scripts = run_cli(["search", "--db", str(db), "--format", "jsonl", "--exe", "/usr/bin/dash"])
    # script.sh (#!/bin/sh) and script-e.sh (#!/bin/sh -e), both run by dash
    assert {e["script"] for e in _jsonl(scripts.stdout)} == {f"{WORK}/script.sh", f"{WORK}/script-e.sh"}
    assert run_cli(["verify", "--db", str(db)]).exit_code == 0


@pytest.mark.parametrize("log", CAPTURED_LOGS[1:], ids=lambda p: p.name)
def test_every_capture_agrees_between_review_and_the_store(log: Path, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert run_cli(["import", "--db", str(db), str(log)]).exit_code == 0
    reviewed = _context(_jsonl(run_cli(["review", "--format", "jsonl", str(log)]).stdout))
    assert _context(_jsonl(run_cli(["search", "--db", str(db), "--format", "jsonl"]).stdout)) == reviewed
    assert any(script for script, _ in reviewed.values())


def test_csv_has_the_fields_comma_joined(reviewed: list[dict[str, Any]]) -> None:
    result = run_cli(["review", "--format", "csv", str(ENRICHED)])
    limit = csv.field_size_limit(1 << 24)  # the capture has a 128 KiB argument
    try:
        rows = {
            int(r["serial"]): r for r in csv.DictReader(io.StringIO(result.stdout)) if r["type"] == "exec"
        }
    finally:
        csv.field_size_limit(limit)
    for serial, (script, flags) in EXPECTED.items():
        assert (rows[serial]["script"], rows[serial]["fileless"]) == (script or "", ",".join(flags))
