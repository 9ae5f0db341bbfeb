"""``import``'s count of incomplete events is the count of stored events marked incomplete, whether
the log is read by the helper process or in this one (stdin)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.paths import DATA

LOG = DATA / "interleaved_concurrent.log"


def without_first_exec_syscall(path: Path) -> bytes:
    lines = LOG.read_bytes().splitlines(keepends=True)
    first = next(
        n for n, line in enumerate(lines) if line.startswith(b"type=SYSCALL") and b" syscall=59 " in line
    )
    path.write_bytes(b"".join(lines[:first] + lines[first + 1 :]))
    return path.read_bytes()


def test_import_counts_the_incomplete_events_it_stores(tmp_path: Path) -> None:
    log = tmp_path / "cut.log"
    data = without_first_exec_syscall(log)
    counts = []
    for name, args, stdin in (("helper", [str(log)], None), ("stdin", ["-"], data)):
        db = tmp_path / f"{name}.db"
        result = run_cli(["import", "--db", str(db), *args], input=stdin)
        assert result.exit_code in (0, 1), result.stderr
        said = int(re.search(r"(\d+) incomplete events", result.stderr)[1])  # type: ignore[index]
        found = run_cli(["search", "--db", str(db), "--format", "jsonl"])
        stored = sum(json.loads(line)["incomplete"] for line in found.stdout.splitlines())
        counts.append((said, stored))
    assert counts[0] == counts[1] and counts[0][0] == counts[0][1] >= 1, counts
