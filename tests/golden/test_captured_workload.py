"""The committed real audit logs (tests/data/) decode exactly to what the workload executed.

Each log was captured on a real kernel with auditd (tests/data/capture.py); its manifest lists, per
forked pid, the exec events it produced. Decoded argv must equal the executed bytes exactly, and
path, cwd, exe, comm, success/exit, arch/syscall must match; failed execs have argv None.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.support.paths import DATA
from tests.support.workload.compare import (
    compare_case,
    group_events,
    interleaved_events,
    load_manifest,
    read_maybe_gzip,
    serial_decreases,
)

LOGS = {  # name -> (log file, manifest file)
    "workload_enriched": ("workload_enriched.log", "workload_enriched.manifest.json.gz"),
    "workload_raw_node": ("workload_raw_node.log.gz", "workload_raw_node.manifest.json.gz"),
    "interleaved_concurrent": ("interleaved_concurrent.log", "interleaved_concurrent.manifest.json.gz"),
}
WORKLOADS = ("workload_enriched", "workload_raw_node")
REQUIRED_CASES = {
    "spaces", "double_quotes", "tabs_newlines", "non_utf8", "utf8", "empty_args", "field_lookalikes",
    "long_20000", "long_131071", "args_5000", "argv0_differs", "enoent", "eacces_mode", "enoexec",
    "shebang_sh", "shebang_env_python3", "i386_static_execve", "argv_empty", "fexecve", "execveat_dirfd",
    "execvp_path_search",
}  # fmt: skip


@functools.cache
def parsed(name: str) -> tuple[dict[str, Any], list[ExecEvent], Diagnostics]:
    """Manifest, exec events and diagnostics of one committed log (parsed once per session)."""
    log_file, manifest_file = LOGS[name]
    diagnostics = Diagnostics()
    events = list(read_exec_events([DATA / log_file], diagnostics))
    return load_manifest(DATA / manifest_file), events, diagnostics


def _case_ids() -> list[tuple[str, str]]:
    return [(name, case["name"]) for name in LOGS for case in parsed(name)[0]["cases"]]


@pytest.mark.parametrize(("log", "case_name"), _case_ids(), ids=lambda v: str(v))
def test_case_decodes_as_executed(log: str, case_name: str) -> None:
    manifest, events, _ = parsed(log)
    case = next(c for c in manifest["cases"] if c["name"] == case_name)
    got = group_events(events).get((case["pid"], case["ppid"]), [])
    assert compare_case(case, got, manifest) == []


@pytest.mark.parametrize("log", list(LOGS))
def test_no_diagnostics(log: str) -> None:
    """A clean, complete log written by auditd yields no diagnostics at all."""
    _, _, diagnostics = parsed(log)
    assert diagnostics.total == 0, [f"{d.kind}: {d.reason}" for d in diagnostics.samples[:10]]


@pytest.mark.parametrize("log", list(LOGS))
def test_failed_execs_have_no_argv(log: str) -> None:
    manifest, events, _ = parsed(log)
    by_process = group_events(events)
    failed = 0
    for case in manifest["cases"]:
        for want, got in zip(case["events"], by_process.get((case["pid"], case["ppid"]), []), strict=False):
            if not want["success"]:
                failed += 1
                assert (got.success, got.exit, got.argv) == (False, want["exit"], None), case["name"]
    assert failed >= (9 if log in WORKLOADS else 0)


@pytest.mark.parametrize("log", WORKLOADS)
def test_workload_covers_required_cases(log: str) -> None:
    names = {case["name"] for case in parsed(log)[0]["cases"]}
    assert names >= REQUIRED_CASES


@pytest.mark.parametrize("log", list(LOGS))
def test_capture_lost_nothing(log: str) -> None:
    assert parsed(log)[0]["lost_during_capture"] == 0


def test_enriched_and_raw_formats_as_named() -> None:
    enriched = read_maybe_gzip(DATA / LOGS["workload_enriched"][0])
    raw = read_maybe_gzip(DATA / LOGS["workload_raw_node"][0])
    assert b"\x1d" in enriched and b"\x1dARCH=x86_64 SYSCALL=execve" in enriched
    assert b"\x1d" not in raw.replace(b"1D", b"")  # the separator byte only appears hex-encoded
    node = parsed("workload_raw_node")[0]["node"]
    assert all(line.startswith(f"node={node} type=".encode()) for line in raw.splitlines())
    assert {e.node for e in parsed("workload_raw_node")[1]} == {node}
    assert {e.node for e in parsed("workload_enriched")[1]} == {None}


@pytest.mark.parametrize("log", WORKLOADS)
def test_log_holds_the_raw_facts(log: str) -> None:
    """Independent of exectrail: the kernel really logged i386 execs, chunks and continuations."""
    text = read_maybe_gzip(DATA / LOGS[log][0])
    assert re.search(rb"arch=40000003 syscall=11 success=yes", text)
    assert re.search(rb"arch=40000003 syscall=358 success=yes", text)
    assert re.search(rb"arch=c000003e syscall=322 success=yes", text)
    assert re.search(rb"syscall=59 success=no exit=-8 ", text)
    assert re.search(rb"syscall=59 success=no exit=-13 ", text)
    assert b" a1_len=262142 a1[0]=" in text and b" a1[34]=" in text  # 131,071 bytes in 35 hex chunks
    assert b" a1_len=40000 a1[0]=" in text  # 20,000 printable bytes: hex (>= 7500 bytes)
    assert b' a961_len=8 a961[0]="arg-0961"' in text  # a short quoted arg chunked at a record boundary
    assert re.search(rb'argc=1 a0=""\n', text) or re.search(rb'argc=1 a0=""\x1d', text)
    assert b"argc=5001 " in text


def test_interleaved_log_really_interleaves() -> None:
    """The concurrent log has events whose records are split by other events, and serials going down."""
    text = read_maybe_gzip(DATA / LOGS["interleaved_concurrent"][0])
    assert interleaved_events(text) > 0
    assert serial_decreases(text) > 0
    manifest, events, _ = parsed("interleaved_concurrent")
    expected = sum(len(case["events"]) for case in manifest["cases"])
    ours = {(c["pid"], c["ppid"]) for c in manifest["cases"]}
    assert sum(1 for e in events if (e.pid, e.ppid) in ours) == expected


def _case_events(log: str, name: str) -> tuple[dict[str, Any], list[ExecEvent]]:
    manifest, events, _ = parsed(log)
    case = next(c for c in manifest["cases"] if c["name"] == name)
    return case, group_events(events).get((case["pid"], case["ppid"]), [])


def _path(want: dict[str, Any]) -> str:
    return bytes.fromhex(want["path_hex"]).decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("log", WORKLOADS)
def test_scripts_are_the_files_the_workload_ran(log: str) -> None:
    """``#!/bin/sh`` (dash runs script.sh) and ``#!/usr/bin/env python3`` (env, then python3, run
    script.py): each exec's ``script`` is the file the workload executed; a plain exec has none."""
    case, got = _case_events(log, "shebang_sh")
    assert [e.script for e in got] == [_path(case["events"][0])]
    case, got = _case_events(log, "shebang_env_python3")
    assert [e.script for e in got] == [_path(case["events"][0])] * 2
    case, got = _case_events(log, "spaces")
    assert [e.script for e in got] == [None] * len(case["events"])


@pytest.mark.parametrize("log", WORKLOADS)
def test_fileless_flags_of_the_descriptor_execs(log: str) -> None:
    """fexecve() (execveat of a descriptor, PATH name empty) is ``fd``; execveat of a name relative to a
    directory descriptor is not; both helpers were executed from the capture's directory under /tmp."""
    for name, flags in (("fexecve", ("fd",)), ("execveat_dirfd", ())):
        case, got = _case_events(log, name)
        assert [e.syscall for e in got] == [w["syscall"] for w in case["events"]] == ["execve", "execveat"]
        assert _path(case["events"][0]).startswith("/tmp/")
        assert [e.fileless for e in got] == [("scratch-dir",), flags], name
