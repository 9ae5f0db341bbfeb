"""An exec whose SYSCALL line was removed goes through import, the store, every query and format.

The log is ``workload_enriched.log`` without the SYSCALL record of the ``auditctl -d`` that deletes the
exec rules (serial 1110): the event keeps argv, cwd and path, its SYSCALL fields are null and it is
``incomplete``; the store keeps it so, and the chain verifies.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson

from tests.support.cli import run_cli
from tests.support.paths import DATA

SYSCALL_FIELDS = ("arch", "syscall", "success", "exit", "pid", "ppid", "uid", "euid", "suid", "fsuid", "gid",
                  "egid", "sgid", "fsgid")  # fmt: skip


def _invoke(*args: str) -> str:
    result = run_cli(list(args))
    assert result.exit_code in (0, 3), (args, result.exit_code, result.output)  # 3: alarms found
    return result.stdout


def test_event_without_syscall_is_stored_incomplete(tmp_path: Path) -> None:
    log, db = tmp_path / "nosyscall.log", tmp_path / "s.db"
    lines = (DATA / "workload_enriched.log").read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(b"type=SYSCALL msg=audit(1795618247.186:1110)")]
    assert len(kept) == len(lines) - 1
    log.write_bytes(b"".join(kept))
    _invoke("import", "--db", str(db), str(log))
    search = _invoke("search", "--db", str(db), "--format", "jsonl")
    found = [orjson.loads(line) for line in search.splitlines()]
    [lost] = [body for body in found if body["serial"] == 1110]
    assert lost["incomplete"] is True and all(lost[name] is None for name in SYSCALL_FIELDS)
    assert lost["argv"][:2] == ["/usr/sbin/auditctl", "-d"] and lost["cwd"] == "/work/main"
    assert sum(body["incomplete"] for body in found) == 1 and len(found) == 229
    limit = csv.field_size_limit(1 << 24)  # the workload holds a command line of 200,000 bytes
    try:
        rows = list(csv.DictReader(io.StringIO(_invoke("search", "--db", str(db), "--format", "csv"))))
    finally:
        csv.field_size_limit(limit)
    assert [row["incomplete"] for row in rows if row["serial"] == "1110"] == ["True"]
    for query in (["report"], ["timeline"], ["tree", "8042"], ["search", "--format", "table"]):
        for fmt in ("jsonl", "table"):
            _invoke(*query, "--db", str(db), "--format", fmt)
    assert "intact" in run_cli(["verify", "--db", str(db)]).output
