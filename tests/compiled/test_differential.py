"""The compiled hot path answers exactly as its pure-Python source, on every log we have.

Both paths run over the test logs (tests/data, tests/interference/data), every peer log
(../shared/peer-logs) and hostile logs drawn by hypothesis (tests/support/hotpath_diff.py); events,
alarms, diagnostics and the bytes and messages of ``review`` and ``alarms`` must be equal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from exectrail.hotpath import HOT_MODULES
from tests.support import compiled
from tests.support.ci import skip_or_fail
from tests.support.hotpath_diff import hostile_logs
from tests.support.paths import DATA, INTERFERENCE_DATA, PEER_LOGS, REPO

EXAMPLES = 150
LOG_SUFFIXES = (".log", ".log.gz")


def _logs() -> list[Path]:
    if not PEER_LOGS.is_dir():
        skip_or_fail(f"the peer logs are not at {PEER_LOGS}")
    ours = [
        p
        for folder in (DATA, INTERFERENCE_DATA)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name.endswith(LOG_SUFFIXES)
    ]
    peers = sorted(p for p in PEER_LOGS.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(ours) >= 5 and len(peers) >= 70, (len(ours), len(peers))
    return ours + peers


def _answers(out: Path, logs: list[Path], pure: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.support.hotpath_diff", str(out)]
    done = subprocess.run(
        [*command, *map(str, logs)],
        env=compiled.env(pure),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document: dict[str, Any] = orjson.loads(out.read_bytes())
    return document


def test_compiled_and_pure_answer_alike(compiled_build: Path, tmp_path: Path) -> None:
    logs = _logs() + hostile_logs(EXAMPLES, tmp_path)
    fast = _answers(tmp_path / "compiled.json", logs, pure=False)
    slow = _answers(tmp_path / "pure.json", logs, pure=True)
    assert fast["hot_path"] == f"hot path: compiled (mypyc, {len(HOT_MODULES)} modules)"
    assert slow["hot_path"] == "hot path: pure Python (EXECTRAIL_PURE is set)"
    assert len(fast["logs"]) == len(logs)
    assert fast["logs"].keys() == slow["logs"].keys()
    events = sum(len(found["events"]) for found in slow["logs"].values())
    alarms = sum(len(found["alarms"]) for found in slow["logs"].values())
    diagnosed = sum(bool(found["diagnostic_counts"]) for found in slow["logs"].values())
    assert events > 3000 and alarms > 500 and diagnosed > EXAMPLES // 2, (events, alarms, diagnosed)
    for name, answer in slow["logs"].items():
        for part, value in answer.items():
            assert fast["logs"][name][part] == value, f"{name}: {part} differs between the hot paths"


@pytest.mark.parametrize(
    ("pure", "said"),
    [("", "compiled (mypyc"), ("0", "compiled (mypyc"), ("1", "pure Python (EXECTRAIL_PURE is set)"),
     ("yes", "pure Python (EXECTRAIL_PURE is set)"), (" Off ", "compiled (mypyc"),
     ("false", "compiled (mypyc"), ("no", "compiled (mypyc"), (None, "compiled (mypyc")],
)  # fmt: skip
def test_version_names_the_hot_path(compiled_build: Path, pure: str | None, said: str) -> None:
    env = compiled.env()
    if pure is not None:
        env["EXECTRAIL_PURE"] = pure
    done = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    version, hot = done.stdout.splitlines()
    assert version == "exectrail, version 0.1.0"
    assert hot.startswith(f"hot path: {said}"), hot
