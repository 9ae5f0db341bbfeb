"""``watch`` run from a configuration file against the real kernel: the store and the filters named in
the file are used, ``show = false`` keeps stdout empty (``--output`` still gets what is shown), and a
flag still wins over the file."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.config_files import write_config
from tests.support.kernel import EXECTRAIL, LIVE, Kernel, observe

pytestmark = pytest.mark.kernel


def wait_until(
    done: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, f"watch exited {proc.returncode}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.1)


def stored_argvs(db: Path, marker: str) -> list[tuple[str, ...]]:
    search = [*EXECTRAIL, "search", "--db", str(db), "--format", "jsonl", "--argv-contains", marker]
    out = subprocess.run(search, capture_output=True, text=True, timeout=60).stdout
    argvs = (tuple(json.loads(line)["argv"]) for line in out.splitlines())
    return sorted(a for a in argvs if a[0] == "/usr/bin/true")  # not the searches (the marker is in theirs)


def run_watch(workdir: Path, args: list[str], marker: str, done: Callable[[], bool]) -> tuple[bytes, str]:
    """Start watch, exec ``MARKER-hidden-RUN`` and ``MARKER-shown-RUN`` once it watches, stop it when
    ``done``; its stdout and stderr. RUN is the name of ``workdir``."""
    workdir.mkdir()
    env = {**os.environ, "EXECTRAIL_STATE_DIR": str(workdir / "state")}
    env.pop("EXECTRAIL_DB", None)
    stdout, stderr = workdir / "stdout", workdir / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen([*EXECTRAIL, "watch", *args], stdout=out, stderr=err, env=env)
    LIVE.append(proc)
    wait_until(lambda: "watching in daemon mode" in stderr.read_text(), proc, "watch did not start")
    for suffix in ("hidden", "shown"):
        subprocess.run(["/usr/bin/true", f"{marker}-{suffix}-{workdir.name}"], check=True)
    wait_until(done, proc, "the events did not arrive")
    proc.terminate()
    assert proc.wait(timeout=60) == 0, stderr.read_text()
    LIVE.remove(proc)
    text = stderr.read_text()
    assert "Traceback" not in text and "watch stopped (SIGTERM)" in text
    return stdout.read_bytes(), text


def test_watch_runs_from_the_file(kernel: Kernel, tmp_path: Path) -> None:
    marker = f"exectrail-config-{uuid.uuid4().hex}"
    db = tmp_path / "file.db"
    both = [("/usr/bin/true", f"{marker}-hidden-one"), ("/usr/bin/true", f"{marker}-shown-one")]
    config = write_config(
        tmp_path / "etc",
        f'mode = "daemon"\nshow = false\nbacklog = 9101\n[store]\ndb = "{db}"\n'
        f'[filters]\nargv_contains = ["{marker}-shown"]\n',
    )
    # the file alone: nothing on stdout, every event in the store it names; its backlog
    stdout, err = run_watch(tmp_path / "one", ["--config", str(config)], marker,
                            lambda: stored_argvs(db, marker) == both)  # fmt: skip
    assert stdout == b"" and "backlog_limit 9101 -> " in err  # restored from the file's value
    # the file and flags: the flag's backlog wins; --output gets what the file's filter shows
    out = tmp_path / "out.jsonl"
    args = ["--config", str(config), "--backlog", "9102", "--output", str(out), "--format", "jsonl"]
    stdout, err = run_watch(
        tmp_path / "two", args, marker, lambda: out.exists() and marker in out.read_text()
    )
    assert stdout == b"" and "backlog_limit 9102 -> " in err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["argv"] for e in events] == [["/usr/bin/true", f"{marker}-shown-two"]]
    assert observe() == kernel.before
