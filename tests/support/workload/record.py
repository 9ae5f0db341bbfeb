"""Capture the exec workload with a private auditd: one log file plus its manifest.

Used by ``tests/data/capture.py`` (committed logs) and the live kernel tests (fresh logs).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.auditd_harness import auditd_capture, log_lines

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Recording:
    """A finished capture: the log, the manifest (already written next to it) and counters."""

    log_path: Path
    manifest_path: Path
    manifest: dict[str, Any]
    lines: int
    lost: int
    status_before: dict[str, int]
    status_after: dict[str, int]


def record_workload(
    log_path: Path,
    manifest_path: Path,
    *,
    log_format: str = "ENRICHED",
    node: str | None = None,
    groups: Sequence[str] | None = None,
    processes: int = 16,
    chain: int = 10,
) -> Recording:
    """Run the workload (``run.py``) under :func:`auditd_capture` and copy the log and manifest into place."""
    with tempfile.TemporaryDirectory(prefix="exectrail-record-") as tmp:
        workdir = Path(tmp)
        raw_manifest = workdir / "manifest.json"
        cmd = [
            sys.executable,
            "-m",
            "tests.support.workload.run",
            "--manifest",
            str(raw_manifest),
            "--workdir",
            str(workdir / "w"),
        ]
        cmd += ["--processes", str(processes), "--chain", str(chain)]
        if groups:
            cmd += ["--only", *groups]
        with auditd_capture(log_format, workdir=workdir / "audit", node=node) as capture:
            proc = subprocess.run(
                cmd, cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=600
            )
            if proc.returncode != 0:
                raise RuntimeError(f"workload failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        manifest = json.loads(raw_manifest.read_text())
        manifest["log_format"] = log_format
        manifest["node"] = node
        manifest["lost_during_capture"] = capture.lost_during
        lines = log_lines(capture.log_path)
        write_maybe_gzip(log_path, capture.log_path.read_bytes())
    write_maybe_gzip(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    return Recording(
        log_path,
        manifest_path,
        manifest,
        lines,
        capture.lost_during or 0,
        capture.status_before,
        capture.status_after,
    )


def write_maybe_gzip(path: Path, data: bytes) -> None:
    """Write ``data``, gzip-compressed (reproducibly: no name, mtime 0) when ``path`` ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, 9, mtime=0) if path.suffix == ".gz" else data)
