"""Every bad option value is exit 2 with one ``exectrail: …`` line, never an internal error (70).

A table of known-bad values per option (each must be named in the message), then a sweep of
hostile values over every option of every command. Commands that talk to the kernel get a
stand-in client that refuses (so a value that slips through cannot start a capture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import Result

from exectrail.capture import run as capture_run
from exectrail.cli import rules_cmd, status_cmd
from exectrail.cli.main import cli
from exectrail.errors import KernelAuditError
from tests.support.cli import run_cli
from tests.support.cli_logs import write_hostile_log

HUGE = str(2**64)
NOT_UTF8 = "\udcff"  # how Python hands over an argv byte that is not UTF-8 (surrogateescape)
KERNEL_REFUSED = "test stand-in: the kernel is not touched"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("options")
    log = write_hostile_log(base / "audit.log")
    db = base / "events.db"
    result = run_cli(["import", "--db", str(db), str(log)], env={"EXECTRAIL_DB": ""})
    assert result.exit_code == 0, result.stderr
    return {"log": str(log), "db": str(db), "new_db": str(base / "new.db"), "spool": str(base / "spool")}


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # a value taken as a file name (watch --output x) lands here

    def refuse(*args: object, **kwargs: object) -> None:
        raise KernelAuditError(KERNEL_REFUSED)

    monkeypatch.setattr(capture_run, "live_capture", refuse)
    monkeypatch.setattr(status_cmd, "AuditClient", refuse)
    monkeypatch.setattr(rules_cmd, "AuditClient", refuse)
    yield


def invoke(args: list[str]) -> Result:
    return run_cli(args, env={"EXECTRAIL_DB": "", "COLUMNS": "120"})


def assert_one_line_usage_error(result: Result, *words: str) -> None:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("exectrail: "), result.stderr
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


BASE = {
    "review": ["review", "{log}"],
    "alarms": ["alarms", "{log}"],
    "check-procs": ["check-procs", "{log}"],
    "import": ["import", "--db", "{new_db}", "--no-alarms", "{log}"],
    "search": ["search", "--db", "{db}"],
    "tree": ["tree", "--db", "{db}", "4000"],
    "timeline": ["timeline", "--db", "{db}"],
    "report": ["report", "--db", "{db}"],
    "verify": ["verify", "--db", "{db}"],
    "watch": ["watch", "--no-store", "--spool", "{spool}"],
    "status": ["status"],
    "rules snippet": ["rules", "snippet"],
}

CASES = [
    # (command, option, bad value, what the message names)
    *((cmd, opt, value, opt)
      for cmd in ("review", "search", "timeline", "report", "watch")
      for opt in ("--pid", "--ppid", "--uid", "--auid")
      for value in (HUGE, "-5", "x", "1,,2" if opt != "--auid" else "-2")),
    ("tree", "PID", HUGE, "PID"),
    ("timeline", "--session", HUGE, "--session"),
    ("timeline", "--session", "-3", "--session"),
    ("watch", "--count", HUGE, "--count"),
    ("watch", "--count", "0", "--count"),
    ("watch", "--backlog", str(2**32), "--backlog"),
    ("watch", "--duration", "inf", "--duration"),
    ("watch", "--duration", "nan", "--duration"),
    ("watch", "--duration", "-1", "--duration"),
    ("watch", "--heartbeat", "nan", "--heartbeat"),
    ("watch", "--heartbeat", "1e999", "--heartbeat"),
    ("alarms", "--silent-gap", "inf", "--silent-gap"),
    ("alarms", "--silent-gap", "nan", "--silent-gap"),
    ("alarms", "--silent-gap", "0.5", "--silent-gap"),
    ("search", "--limit", HUGE, "--limit"),
    ("report", "--top", HUGE, "--top"),
    ("tree", "--max-nodes", HUGE, "--max-nodes"),
    *((cmd, "--sink-wait", value, "--sink-wait")
      for cmd in ("review", "import", "watch") for value in ("inf", "nan", "-1", "1e999", "x")),
    *((cmd, "--sink", url, "--sink")
      for cmd in ("review", "import", "watch")
      for url in ("syslog+tcp://[::1", "syslog+tcp://[zz]:514", "syslog+tcp://[::1]:99999", "syslog+tcp://h:0",
                  f"syslog+tcp://h{NOT_UTF8}:514", "syslog+tcp://h:514?timeout=inf", "syslog+udp://h?timeout=nan",
                  "syslog://[::1", "clickhouse+http://[fe80::1%25eth0/db")),
    ("review", "--spool-max", "9" * 400, "--spool-max"),
    ("review", "--spool-max", "-1G", "--spool-max"),
    ("review", "--host-name", NOT_UTF8, "--host-name"),
    ("review", "--host-name", "a\x1b[2Kb", "--host-name"),
    ("check-procs", "--host-name", NOT_UTF8, "--host-name"),
    ("check-procs", "--host-name", "", "--host-name"),
    *((cmd, opt, value, "time")
      for cmd in ("review", "search") for opt in ("--start", "--end")
      for value in ("@1e999", "99999999999999999999", "nan", "inf", "next tuesday", NOT_UTF8, "")),
    ("tree", "--at", "10000-01-01", "time"),
    ("tree", "--at", "9999-12-31T23:59:59-12:00", "out of range"),
    ("report", "--start", "0001-01-01", "out of range"),
    ("check-procs", "--since", "0001-01-01T00:00:00+01:00", "out of range"),
    ("check-procs", "--since", "@inf", "time"),
    ("check-procs", "--until", NOT_UTF8, "time"),
    ("search", "--text", NOT_UTF8, "--text"),
    ("search", "--text", "caf" + NOT_UTF8, "--text 'caf\\xff' is not UTF-8"),
    ("search", "--text", "\x00", "--text"),
    ("verify", "--expect", "x", "--expect"),
    ("verify", "--expect", f"{HUGE}:{'0' * 64}", "--expect"),
    ("rules snippet", "-F", "auid>=" + HUGE, "auid"),
    ("rules snippet", "-F", "uid=" + NOT_UTF8, "uid"),
    ("rules snippet", "--key", "k" * 300, "key"),
    ("rules snippet", "--exclude-exe", "relative/x", "--exclude-exe"),
    ("rules snippet", "--exclude-exe", "/tmp/x\n-D", "control characters"),  # would add "-D" to a rules file
    ("rules snippet", "-F", "exe=/tmp/y\n-e 0", "control characters"),
    ("watch", "--rule-key", "k" * 300, "key"),
]  # fmt: skip


def _command(files: dict[str, str], command: str, option: str, value: str) -> list[str]:
    args = [word.format(**files) for word in BASE[command]]
    if option == "PID":
        return [*args[:-1], value]
    return [*args, option, value]


def _case_id(case: tuple[str, str, str, str]) -> str:
    command, option, value, _ = case
    return f"{command} {option} {value[:24]!r}"


@pytest.mark.parametrize(("command", "option", "value", "named"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_value_is_one_line_and_exit_2(
    files: dict[str, str], command: str, option: str, value: str, named: str
) -> None:
    result = invoke(_command(files, command, option, value))
    assert_one_line_usage_error(result, named)
    assert KERNEL_REFUSED not in result.stderr  # refused before anything ran


HOSTILE_VALUES = [
    HUGE,
    "-" + HUGE,
    "-1",
    "x",
    "",
    "inf",
    "nan",
    "1e999",
    NOT_UTF8,
    "caf" + NOT_UTF8,
    "a\nb",
    "[::1",
    "@" + HUGE,
]


def _options(command: click.Command) -> Iterator[click.Option]:
    for param in command.params:
        if isinstance(param, click.Option) and not param.is_flag and param.name not in ("db", "fmt", "mode"):
            yield param


def _commands() -> Iterator[tuple[str, click.Command]]:
    for name in BASE:
        command: click.Command = cli
        for word in name.split():
            assert isinstance(command, click.Group)
            command = command.commands[word]
        yield name, command


SWEEP = [(name, max(opt.opts, key=len)) for name, command in _commands() for opt in _options(command)]


@pytest.mark.parametrize(("command", "option"), SWEEP)
def test_no_option_value_reaches_an_internal_error(files: dict[str, str], command: str, option: str) -> None:
    """Every option of every command, every hostile value: a result or one usage line, never 70."""
    for value in HOSTILE_VALUES:
        result = invoke(_command(files, command, option, value))
        assert result.exit_code in (0, 1, 2, 3), (value, result.exit_code, result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr, value
        if result.exit_code == 2:
            assert_one_line_usage_error(result)


def test_click_usage_errors_are_one_line_too(files: dict[str, str]) -> None:
    for args in (
        ["review", "--nope"],
        ["tree", "--db", files["db"]],
        ["nosuchcommand"],
        ["review", "--format", "x"],
    ):
        assert_one_line_usage_error(invoke(args), "exectrail")


def test_out_of_range_pid_filters_match_nothing_instead_of_overflowing(files: dict[str, str]) -> None:
    """The largest id is still a value: it is searched for, not an error (2^32-1 means unset for auid)."""
    result = invoke(["search", "--db", files["db"], "--pid", str(2**32 - 1), "--format", "jsonl"])
    assert result.exit_code == 0 and result.stdout == ""
    result = invoke(["search", "--db", files["db"], "--pid", "4000", "--format", "jsonl"])
    assert result.exit_code == 0 and '"pid":4000' in result.stdout


def test_the_real_entry_point_with_a_non_utf8_argument(files: dict[str, str], tmp_path: Path) -> None:
    """sys.argv as the OS gives it: a non-UTF-8 byte in --text and in --host-name."""
    import subprocess
    import sys

    search = [sys.executable.encode(), b"-m", b"exectrail.cli.main", b"search", b"--db", files["db"].encode()]
    for extra in ([b"--text", b"\xff"], [b"--pid", str(2**64).encode()]):
        proc = subprocess.run(
            [*search, *extra],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count(b"\n") == 1 and proc.stderr.startswith(b"exectrail: "), proc.stderr


@pytest.mark.parametrize("command", ["watch", "import"])
@pytest.mark.parametrize(
    "bad", [["--sink", "syslog+tcp://[::1"], ["--sink-wait", "nan"], ["--spool-max", "x"]]
)
def test_a_bad_value_creates_nothing(
    files: dict[str, str], tmp_path: Path, command: str, bad: list[str]
) -> None:
    """Refused before the store (or a spool) is created."""
    db, spool = tmp_path / "never.db", tmp_path / "never-spool"
    args = [
        command,
        "--db",
        str(db),
        "--spool",
        str(spool),
        *bad,
        *([files["log"]] if command == "import" else []),
    ]
    assert_one_line_usage_error(invoke(args), bad[0])
    assert not db.exists() and not spool.exists()


@pytest.mark.parametrize("args", [[], ["rules"]])
def test_a_group_without_a_command_shows_its_help(args: list[str]) -> None:
    result = invoke(args)
    assert result.exit_code == 2 and result.stderr.startswith("Usage: ") and "Commands:" in result.stderr
