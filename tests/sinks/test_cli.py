"""``exectrail review --sink …`` end to end (subprocess): options, summaries, exit codes, spool cap."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

from exectrail.sinks import read_sink_status
from tests.support.paths import DATA
from tests.support.servers import free_port

LOG = str(DATA / "workload_enriched.log")
EVENTS = 229


def exectrail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exectrail.cli.main", *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_review_forwards_to_jsonl_with_host_name(tmp_path: Path) -> None:
    out = tmp_path / "fwd.jsonl"
    proc = exectrail("review", LOG, "--format", "jsonl", "--sink", f"jsonl://{out}",
                     "--spool", str(tmp_path / "s"), "--host-name", "box-7")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    forwarded = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert f"exectrail: sink jsonl://{out}: {len(forwarded)} delivered\n" in proc.stderr
    events = [f for f in forwarded if f["type"] == "exec"]  # alarms (issue 7) may come along
    printed = [p for p in map(orjson.loads, proc.stdout.splitlines()) if p["type"] == "exec"]
    assert len(events) == EVENTS
    assert [{k: v for k, v in f.items() if k not in ("host", "id")} for f in events] == printed
    assert {f["host"] for f in forwarded} == {"box-7"}


def test_bad_sink_url_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = exectrail("review", LOG, "--sink", "kafka://broker:9092", "--spool", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("exectrail: --sink 'kafka://broker:9092': unknown kind")
    assert proc.stderr.count("\n") == 1


def test_unwritable_spool_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    proc = exectrail(
        "review", LOG, "--sink", f"jsonl://{tmp_path}/x.jsonl", "--spool", str(tmp_path / "f" / "s")
    )
    assert proc.returncode == 2
    reason = "Not a directory (choose one with --spool)"
    assert proc.stderr == f"exectrail: cannot use spool directory {tmp_path}/f/s: {reason}\n"


def test_spool_cap_reports_the_exact_loss(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    url = f"syslog+tcp://127.0.0.1:{free_port()}"
    proc = exectrail("review", LOG, "--format", "jsonl", "--sink", url, "--spool", str(spool),
                     "--spool-max", "300k", "--sink-wait", "0.5")  # fmt: skip
    assert proc.returncode == 1
    assert "connection refused; retrying, events wait in the spool" in proc.stderr
    assert re.search(r"spool full \(--spool-max 307200 bytes\): \d+ events dropped", proc.stderr)
    m = re.search(rf"sink {re.escape(url)}: 0 delivered, (\d+) waiting in the spool .*, (\d+) DROPPED; "
                  r"last error: cannot connect to .*: connection refused\n", proc.stderr)  # fmt: skip
    assert m, proc.stderr
    pending, dropped = int(m[1]), int(m[2])
    assert dropped > 0
    on_disk = sum(int(p.stem.rpartition("-")[2]) for p in spool.glob("*/*.batch"))
    assert on_disk == pending
    [state] = read_sink_status(spool)
    assert state["sink"] == url and state["running"] is False
    assert (state["backlog"], state["dropped"]) == (pending, dropped)
    assert state["accepted"] == pending + dropped >= EVENTS  # events (+ alarms, issue 7)
    assert "connection refused" in state["last_error"]
