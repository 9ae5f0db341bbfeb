"""A closed pipe or a closed stdout ends every printing command quietly, with status 141.

141 is 128 + SIGPIPE, what a shell shows for any tool a closed pipe stopped; it also keeps a
stopped ``alarms`` from reading as "no alarm" (0). Real processes, real pipes: the reader gone
before the first write (every command, every format), stdout closed entirely (``>&-``), and
``| head -1`` on an output far bigger than the pipe's buffer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ci import skip_or_fail
from tests.support.cli_logs import write_hostile_log

EXECTRAIL = [sys.executable, "-m", "exectrail.cli.main"]
EXIT_BROKEN_PIPE = 141
FORMATS = ("table", "jsonl", "csv")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("pipes")
    log = write_hostile_log(base / "audit.log", events=1500)
    db = base / "events.db"
    imported = subprocess.run(
        [*EXECTRAIL, "import", "--db", str(db), str(log)], capture_output=True, timeout=120
    )
    assert imported.returncode == 0, imported.stderr
    return {"log": str(log), "db": str(db)}


COMMANDS = {
    "review": ["review", "{log}"],
    "alarms": ["alarms", "{log}"],
    "alarms-db": ["alarms", "--db", "{db}"],
    "search": ["search", "--db", "{db}"],
    "tree": ["tree", "--db", "{db}", "1"],
    "timeline": ["timeline", "--db", "{db}", "--session", "unset"],
    "sessions": ["timeline", "--db", "{db}"],
    "report": ["report", "--db", "{db}"],
}


def _args(files: dict[str, str], name: str, fmt: str | None) -> list[str]:
    args = [word.format(**files) for word in COMMANDS[name]]
    return [*EXECTRAIL, *args, *(["--format", fmt] if fmt else [])]


def assert_quiet(stderr: bytes) -> None:
    """Only exectrail's own summary lines (if any came before the output): no error, no traceback."""
    text = stderr.decode("utf-8", "replace")
    for line in text.splitlines():
        assert line.startswith("exectrail: "), text
        assert "error" not in line.lower() and "pipe" not in line.lower(), text
    assert "Traceback" not in text and "Exception ignored" not in text


def run_into_a_closed_pipe(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """``args`` with stdout a pipe whose reader is already gone (EPIPE on the first write)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(args, stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)


def _close_stdout() -> None:
    os.close(1)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", COMMANDS)
def test_a_reader_gone_before_the_first_line(files: dict[str, str], name: str, fmt: str) -> None:
    result = run_into_a_closed_pipe(_args(files, name, fmt))
    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert_quiet(result.stderr)


@pytest.mark.parametrize("name", COMMANDS)
def test_stdout_closed_entirely(files: dict[str, str], name: str) -> None:
    result = subprocess.run(
        _args(files, name, "table"), stderr=subprocess.PIPE, preexec_fn=_close_stdout, timeout=120
    )
    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert_quiet(result.stderr)


def test_a_command_that_prints_nothing_runs_with_stdout_closed(files: dict[str, str], tmp_path: Path) -> None:
    """import writes only to stderr and the store: a closed stdout changes nothing, and the store
    does not take descriptor 1 (were it given the terminal's output, verify would fail)."""
    db = tmp_path / "closed.db"
    result = subprocess.run(
        [*EXECTRAIL, "import", "--no-alarms", "--db", str(db), files["log"]],
        stderr=subprocess.PIPE, preexec_fn=_close_stdout, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    verified = subprocess.run([*EXECTRAIL, "verify", "--db", str(db)], capture_output=True, timeout=120)
    assert verified.returncode == 0 and verified.stdout.startswith(b"intact: 1501 events"), verified


@pytest.mark.parametrize("fmt", FORMATS)
def test_head_1_through_a_shell(files: dict[str, str], fmt: str) -> None:
    """``exectrail review LOG | head -1`` with an output many times the pipe buffer (64 KiB)."""
    script = 'set -o pipefail; "$@" --format ' + fmt + " | head -1 >/dev/null"
    result = subprocess.run(
        ["bash", "-c", script, "bash", *_args(files, "review", None)], stderr=subprocess.PIPE, timeout=120
    )
    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert_quiet(result.stderr)


@pytest.mark.parametrize("args", [["rules", "show"], ["status"], ["status", "--format", "json"]])
def test_kernel_commands_into_a_closed_pipe(args: list[str]) -> None:
    """Read-only kernel commands (no state changes): the same quiet 141."""
    probe = subprocess.run([*EXECTRAIL, *args], capture_output=True, timeout=60)
    if probe.returncode != 0:
        skip_or_fail(f"exectrail {' '.join(args)} needs the kernel audit subsystem: {probe.stderr!r}")
    result = run_into_a_closed_pipe([*EXECTRAIL, *args])
    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert_quiet(result.stderr)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["review", "--help"], ["rules", "--help"], ["alarms", "--kinds"],
     ["rules", "snippet"], ["verify", "--db", "{db}"], ["verify", "--head", "--db", "{db}"],
     ["check-procs", "--db", "{db}", "--format", "table"]],
    ids=lambda a: " ".join(w for w in a if not w.startswith("{")),
)  # fmt: skip
def test_every_other_output_into_a_closed_pipe(files: dict[str, str], args: list[str]) -> None:
    result = run_into_a_closed_pipe([*EXECTRAIL, *(w.format(**files) for w in args)])
    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert_quiet(result.stderr)
