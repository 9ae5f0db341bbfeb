"""Log text cannot drive the terminal: every table and message shows control characters escaped.

The hostile log's exe, comm, argv, cwd and failed path carry ``ESC [2K ESC [1A \\r \\b BEL`` (which
erased lines of the ``alarms`` and ``report`` tables), a C1 CSI and a right-to-left override;
each command runs for real (rich tables rendered at a fixed width, not a terminal, so every
escape byte in the output would come from the data).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import Result

from exectrail.cli.status_cmd import _table, sink_warnings
from exectrail.output.terminal import terminal_text
from exectrail.sinks.status import STATE_FILE, read_sink_status
from tests.support.cli import run_cli
from tests.support.cli_logs import ESCAPED_EXE, HOSTILE_EXE, terminal_controls, write_hostile_log

WIDE = {"COLUMNS": "200", "EXECTRAIL_DB": ""}


def invoke(*args: str, columns: str = "200") -> Result:
    return run_cli(list(args), env={**WIDE, "COLUMNS": columns})


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The hostile log, and a store it was imported into (events and alarms)."""
    base = tmp_path_factory.mktemp("escaping")
    log = write_hostile_log(base / "audit.log", events=3)
    db = base / "events.db"
    result = invoke("import", "--db", str(db), str(log))
    assert result.exit_code == 0, result.stderr
    assert not terminal_controls(result.stderr) and ESCAPED_EXE in result.stderr  # the stderr alarm lines
    return log, db


def test_the_escaping_function() -> None:
    assert terminal_text("/usr/bin/ls -la café") == "/usr/bin/ls -la café"
    assert terminal_text("a\x1b[2K\r\b\x07\t\n\x7f") == "a\\x1b[2K\\r\\x08\\x07\\t\\n\\x7f"
    assert terminal_text("\x9b\u202e\u200b\u2028\xa0") == "\\u009b\\u202e\\u200b\\u2028\\u00a0"
    assert terminal_text("raw \udcff byte") == "raw \\xff byte"  # a byte that was not UTF-8
    assert terminal_text("a\\x1b") == "a\\\\x1b"  # the data cannot fake an escape
    dense = [*range(0x3000), *range(0xD800, 0xE000), *range(0xFE00, 0x10000), *range(0xE0000, 0xE0080)]
    for code in [*dense, *range(0x3000, 0x110000, 61)]:  # controls, surrogates, specials, tags; a sample
        shown = terminal_text(chr(code))
        assert not terminal_controls(shown) and (shown == chr(code) or shown.startswith("\\"))


@pytest.mark.parametrize(
    "command",
    [
        ["review", "--format", "table", "{log}"],
        ["alarms", "--format", "table", "{log}"],
        ["alarms", "--format", "table", "-v", "{log}"],
        ["alarms", "--format", "table", "--db", "{db}"],
        ["report", "--format", "table", "--db", "{db}"],
        ["search", "--format", "table", "--db", "{db}"],
        ["timeline", "--format", "table", "--session", "unset", "--db", "{db}"],
        ["timeline", "--format", "table", "--db", "{db}"],
        ["tree", "--format", "table", "4001", "--db", "{db}"],
        ["tree", "--format", "table", "1", "--db", "{db}"],
    ],
    ids=lambda c: "-".join(w for w in c if not w.startswith("{") and w not in ("--format", "table")),
)
@pytest.mark.parametrize("columns", ["200", "60"])
def test_no_control_character_reaches_the_terminal(
    hostile: tuple[Path, Path], command: list[str], columns: str
) -> None:
    log, db = hostile
    args = [w.format(log=log, db=db) for w in command]
    result = invoke(*args, columns=columns)
    assert result.exit_code in (0, 3), result.stderr
    assert terminal_controls(result.stdout) == [] and terminal_controls(result.stderr) == []
    if columns == "200":  # wide enough for no folding: the escaped text is there, nothing is lost
        flat = result.stdout
        if args[0] in ("alarms", "report", "search") or "4001" in args or "--session" in args:
            wanted = "\\x1b[2K\\x1b[1A\\r\\x08\\x07" if "--session" not in args else "$'--x="
            assert wanted in flat, flat
        if args[0] in ("alarms", "report"):
            assert ESCAPED_EXE in flat


def test_the_json_output_keeps_the_raw_text(hostile: tuple[Path, Path]) -> None:
    """Escaping is for terminals only: jsonl (data for programs) still carries the exact exe."""
    log, _ = hostile
    result = invoke("review", "--format", "jsonl", "--no-alarms", str(log))
    exes = {json.loads(line)["exe"] for line in result.stdout.splitlines()}
    assert exes == {HOSTILE_EXE.decode()}


STATUS = {
    "enabled": 1, "failure": 1, "pid": 42, "pid_alive": True, "pid_name": "aud\x1b[2Kitd",
    "rate_limit": 0, "backlog_limit": 8192, "backlog_wait_time": 60000, "backlog": 0, "lost": 0,
    "rules": 2, "procmon": {"state": "complete", "key": "proc\x1b[1Amon", "missing": []},
    "sinks": [{"sink": "jsonl:///x", "running": False, "backlog": 1,
               "last_error": "server said \x1b[2K\rall good", "last_error_time": "t"}],
    "warnings": ["sink jsonl:///x: receiver failing: \x1b]0;owned\x07"],
}  # fmt: skip


def test_status_table_escapes_process_names_and_sink_errors() -> None:
    text = _table(STATUS)
    assert terminal_controls(text.replace("\n", "")) == []
    assert "aud\\x1b[2Kitd" in text and "server said \\x1b[2K\\rall good" in text


def test_check_procs_names_a_hostile_running_executable_escaped(
    hostile: tuple[Path, Path], tmp_path: Path
) -> None:
    """A real process running a copy of sleep whose path holds escape sequences (under /tmp)."""
    _, db = hostile
    base = Path("/tmp") if str(tmp_path).startswith("/tmp/") else tmp_path
    hostile_dir = Path(os.fsdecode(bytes(base) + b"/exectrail-\x1b[2K\rdir-" + str(os.getpid()).encode()))
    hostile_dir.mkdir()
    try:
        program = hostile_dir / "sle\x1b[1Aep"
        shutil.copy("/bin/sleep", program)
        with subprocess.Popen([str(program), "30"]) as proc:
            try:
                time.sleep(0.1)
                result = invoke("check-procs", "--format", "table", "--db", str(db))
            finally:
                proc.kill()
    finally:
        shutil.rmtree(hostile_dir)
    assert result.exit_code == 3, result.stderr
    assert terminal_controls(result.stdout) == [] and terminal_controls(result.stderr) == []
    assert "exectrail-\\x1b[2K\\rdir-" in result.stdout and "sle\\x1b[1Aep" in result.stdout


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_is_not_utf8(hostile: tuple[Path, Path], encoding: str) -> None:
    """Non-ASCII log text on an ASCII or Latin-1 terminal: escapes, not an internal error."""
    log, db = hostile
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "200"}
    for args, status in ((["alarms", "--format", "table", str(log)], 3), (["report", "--db", str(db)], 0)):
        proc = subprocess.run(
            [sys.executable, "-m", "exectrail.cli.main", *args, "--format", "table"],
            capture_output=True, env=env, timeout=60,
        )  # fmt: skip
        assert proc.returncode == status, proc.stderr
        assert b"\\u202e" in proc.stdout and b"internal error" not in proc.stderr


def test_status_survives_a_damaged_sink_state_file(tmp_path: Path) -> None:
    sink = tmp_path / "syslog_tcp-h-514-0123456789"
    sink.mkdir()
    (sink / STATE_FILE).write_text(
        json.dumps({"sink": "syslog+tcp://h:514", "pid": 2**64, "last_error": "\x1b[2K"})
    )
    states = read_sink_status(tmp_path)
    assert [s["running"] for s in states] == [False]
    assert terminal_controls(_table({**STATUS, "sinks": states}).replace("\n", "")) == []


def test_status_warns_of_rejected_spool_files() -> None:
    planted = {
        "sink": "jsonl:///x",
        "running": False,
        "spool_rejected": 2,
        "spool_path": "/var/spool/\x1b[2Kx",
    }
    warnings = sink_warnings([planted])
    wanted = (
        "sink jsonl:///x: 2 spool files rejected (not written by exectrail: not forwarded, left in place in "
    )
    assert warnings == [wanted + "/var/spool/\x1b[2Kx)"]
    assert "/var/spool/\\x1b[2Kx" in _table({**STATUS, "sinks": [], "warnings": warnings})


class _HostileClickHouse(http.server.BaseHTTPRequestHandler):
    """Answers every request with an error whose text would erase the user's terminal lines."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"Code: 60. DB::Exception: \x1b[2K\x1b[1A\x07Table doesn't exist"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def test_a_receivers_error_text_is_escaped(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    """A sink's warnings (from its thread) and summary carry the receiver's text: escaped too."""
    log, _ = hostile
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileClickHouse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = f"clickhouse+http://127.0.0.1:{server.server_address[1]}/db?table=t"
        spool = tmp_path / "spool"
        args = ["--sink", sink, "--spool", str(spool), "--sink-wait", "1"]
        result = invoke("review", "--format", "jsonl", *args, str(log))
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1  # the events wait in the spool
    assert "ClickHouse refused (500): Code: 60. DB::Exception: \\x1b[2K\\x1b[1A" in result.stderr
    assert terminal_controls(result.stderr) == []
