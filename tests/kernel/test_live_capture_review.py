"""Capture fresh logs on this kernel (ENRICHED and RAW) and review them with the CLI and the API.

A private auditd with the procmon rules records the exec workload (tests/support/workload/run.py);
``exectrail review --format jsonl LOG`` (a subprocess) and ``read_exec_events`` must both give back
exactly what the workload executed. The kernel audit state is restored by the harness, which
holds the machine-wide kernel lock. With ``CI=true`` these tests fail instead of skipping when
the kernel or auditd cannot be used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import exectrail
from exectrail.model import Diagnostics
from exectrail.pipeline import read_exec_events
from tests.support.auditd_harness import RESTORED_FIELDS, KernelUnavailable, usability_problem
from tests.support.ci import skip_or_fail
from tests.support.workload.compare import compare_all, compare_all_json
from tests.support.workload.record import Recording, record_workload
from tests.support.workload.run import build_helpers

pytestmark = pytest.mark.kernel

FORMATS = {"ENRICHED": None, "RAW": "exectrail-live"}  # log_format -> node name


def _unavailable(reason: str) -> None:
    skip_or_fail(f"kernel: {reason}")


def _precondition() -> None:
    problem = usability_problem(check_daemon=False)  # the harness checks the rest under the lock
    if problem:
        _unavailable(problem)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            build_helpers(Path(tmp))
        except (RuntimeError, OSError) as exc:
            _unavailable(f"cannot build the workload helpers: {exc}")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    """One fresh capture per log format (the whole workload, a few concurrent processes)."""
    _precondition()
    out = tmp_path_factory.mktemp("live-capture")
    recordings = {}
    for fmt, node in FORMATS.items():
        try:
            recordings[fmt] = record_workload(
                out / f"live_{fmt.lower()}.log",
                out / f"live_{fmt.lower()}.manifest.json",
                log_format=fmt,
                node=node,
                processes=8,
                chain=4,
            )
        except KernelUnavailable as exc:
            _unavailable(str(exc))
    return recordings


def _review_jsonl(log: Path) -> tuple[list[dict[str, Any]], str]:
    """Run ``exectrail review --format jsonl LOG`` from the same source tree the API came from."""
    env = {**os.environ, "PYTHONPATH": str(Path(exectrail.__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "review", "--format", "jsonl", str(log)],
        capture_output=True,
        timeout=300,
        env=env,
    )
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"exit {proc.returncode}: {stderr[-2000:]}"
    assert "Traceback" not in stderr
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    return [o for o in objects if o["type"] == "exec"], stderr  # alarms (issue 7) come along too


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_capture_lost_nothing_and_restored_kernel(recordings: dict[str, Recording], fmt: str) -> None:
    rec = recordings[fmt]
    assert rec.lost == 0
    assert {k: rec.status_after[k] for k in RESTORED_FIELDS} == {
        k: rec.status_before[k] for k in RESTORED_FIELDS
    }
    assert rec.lines > 500


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_api_matches_manifest(recordings: dict[str, Recording], fmt: str) -> None:
    rec = recordings[fmt]
    diagnostics = Diagnostics()
    events = list(read_exec_events([rec.log_path], diagnostics))
    assert compare_all(rec.manifest, events) == []


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_api_no_diagnostics(recordings: dict[str, Recording], fmt: str) -> None:
    diagnostics = Diagnostics()
    for _ in read_exec_events([recordings[fmt].log_path], diagnostics):
        pass
    assert diagnostics.total == 0, [f"{d.kind}: {d.reason}" for d in diagnostics.samples[:10]]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_cli_jsonl_matches_manifest(recordings: dict[str, Recording], fmt: str) -> None:
    rec = recordings[fmt]
    objects, stderr = _review_jsonl(rec.log_path)
    assert compare_all_json(rec.manifest, objects) == []
    assert "events shown" in stderr


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_cli_and_api_agree(recordings: dict[str, Recording], fmt: str) -> None:
    """The CLI shows every exec event the API yields (the whole log, not only the workload's)."""
    rec = recordings[fmt]
    objects, _ = _review_jsonl(rec.log_path)
    events = list(read_exec_events([rec.log_path], Diagnostics()))
    from_cli = [(o["serial"], o["pid"], o["success"]) for o in objects]
    from_api = [(e.serial, e.pid, e.success) for e in events]
    first = next((i for i, (a, b) in enumerate(zip(from_cli, from_api, strict=False)) if a != b), None)
    assert from_cli == from_api, (
        f"{len(from_cli)} CLI vs {len(from_api)} API events; first difference at {first}"
    )
