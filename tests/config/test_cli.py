"""``exectrail config check|show|example`` and ``watch --config``: messages, exit codes, precedence."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import Result

from exectrail.capture import run as capture_run
from exectrail.cli.watch_cmd import open_store, watch
from exectrail.config import KEYS, shipped_text
from exectrail.errors import KernelAuditError, UsageError
from tests.support.cli import run_cli
from tests.support.config_files import write_config
from tests.support.paths import DOCS

EXECTRAIL = [sys.executable, "-m", "exectrail.cli.main"]
KERNEL_REFUSED = "test stand-in: the kernel is not touched"
FROM_FILE = click.core.ParameterSource.DEFAULT_MAP
TYPED = click.core.ParameterSource.COMMANDLINE


def invoke(args: list[str], **env: str) -> Result:
    return run_cli(args, env={"EXECTRAIL_DB": "", "EXECTRAIL_CONFIG": "", **env})


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise KernelAuditError(KERNEL_REFUSED)

    monkeypatch.setattr(capture_run, "live_capture", refuse)
    monkeypatch.chdir(tmp_path)
    yield


def test_check_a_good_file_through_the_real_entry_point(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'mode = "daemon"\n[forward]\nsinks = ["syslog+tcp://127.0.0.1:514"]\n')
    proc = subprocess.run(
        [*EXECTRAIL, "config", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"exectrail: {path}: ok (2 settings)\n", "")


def test_check_reports_every_problem_one_line_each(tmp_path: Path) -> None:
    text = 'heartbeat = "x"\n[rules]\nkeys = "a"\n[forward]\nsinks = ["syslog+tcp://h:514", "nope://x"]\n'
    path = write_config(tmp_path, text)
    result = invoke(["config", "check", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f'exectrail: {path}: heartbeat: expected a number of seconds, got "x"',
        f"exectrail: {path}: rules.keys: unknown key (did you mean rules.key?)",
        f"exectrail: {path}: forward.sinks[2]: 'nope://x': unknown kind; use one of syslog+tcp, syslog+tls, "
        "syslog+udp, relp, relp+tls, clickhouse+http, jsonl, sqlite (e.g. syslog+tcp://HOST:PORT)",
    ]


def test_check_finds_the_file_watch_would_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, "repair = true\n")
    result = invoke(["config", "check"], EXECTRAIL_CONFIG=str(path))
    assert (result.exit_code, result.stdout) == (0, f"exectrail: {path}: ok (1 setting)\n")
    result = invoke(["config", "check", "--config", str(path)])
    assert (result.exit_code, result.stdout) == (0, f"exectrail: {path}: ok (1 setting)\n")
    result = invoke(["config", "check"])
    assert result.exit_code == 0 and "no configuration file (EXECTRAIL_CONFIG is empty)" in result.stdout
    result = invoke(["config", "check", ""], EXECTRAIL_CONFIG=str(path))
    assert result.exit_code == 0 and "no configuration file (an empty name was given)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["config", "check", "{dir}/absent.toml"], "exectrail: {dir}/absent.toml: no such file or directory"),
        (["config", "check", "{dir}"], "exectrail: {dir}: is a directory"),
        (["config", "check", "a.toml", "--config", "b.toml"], "exectrail: give the file as PATH or --config"),
        (["config", "show", "--config", "{dir}/absent.toml"], "exectrail: {dir}/absent.toml: no such file"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke([arg.format(dir=tmp_path) for arg in args])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message.format(dir=tmp_path)), result.stderr


def test_example_prints_the_shipped_file(tmp_path: Path) -> None:
    result = invoke(["config", "example"])
    assert result.exit_code == 0 and result.stdout == shipped_text()
    assert invoke(["config", "check", str(write_config(tmp_path, result.stdout))]).exit_code == 0


def test_show_names_where_each_setting_comes_from(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, 'heartbeat = 5\n[store]\ndb = "/srv/x.db"\n[filters]\nauid = [1000, "unset"]\n'
    )
    result = invoke(["config", "show", "--config", str(path)], EXECTRAIL_DB=str(tmp_path / "env.db"))
    assert result.exit_code == 0, result.stderr
    lines = {line.split(" = ")[0]: line for line in result.stdout.splitlines() if " = " in line}
    assert lines["heartbeat"].split() == ["heartbeat", "=", "5", "#", "file"]
    assert lines["db"].split() == ["db", "=", f'"{tmp_path}/env.db"', "#", "environment"]  # the env wins
    assert lines["auid"].split("#")[0].strip() == 'auid = [1000, "unset"]'
    assert lines["mode"].split() == ["mode", "=", '"auto"', "#", "default"]
    settings = [line for line in result.stdout.splitlines() if re.match(r"(# )?[a-z_]+( = |: not set)", line)]
    assert len(settings) == len(KEYS)


def test_show_without_a_file_writes_a_file_equal_to_the_defaults(tmp_path: Path) -> None:
    """What 'config show' prints is itself a valid file (the unset ones are comments)."""
    result = invoke(["config", "show"])
    assert result.exit_code == 0 and "file: none" in result.stdout
    text = "\n".join(line.split("#")[0] for line in result.stdout.splitlines())
    checked = invoke(["config", "check", str(write_config(tmp_path, text))])
    assert checked.exit_code == 0, checked.stderr
    unset = sum(key.default is None for key in KEYS)  # host_name, backlog, db, output.*, success
    assert checked.stdout.endswith(f"ok ({len(KEYS) - unset} settings)\n")


def context(*args: str, **env: str) -> click.Context:
    """watch's parameters as they would be resolved (nothing runs)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        return watch.make_context("watch", list(args))


def test_flag_beats_file_beats_default(tmp_path: Path) -> None:
    text = 'mode = "multicast"\nheartbeat = 5\nshow = false\n'
    text += '[rules]\nexecveat = false\n[filters]\ncomm = ["a"]\n'
    path = str(write_config(tmp_path, text))
    ctx = context("--config", path, "--heartbeat", "7", "--comm", "b")
    assert ctx.params["heartbeat"] == 7 and ctx.get_parameter_source("heartbeat") == TYPED
    assert ctx.params["comms"] == ("b",)  # a list given on the command line replaces the file's
    assert ctx.params["mode"] == "multicast" and ctx.get_parameter_source("mode") == FROM_FILE
    assert ctx.params["show"] is False and ctx.params["no_execveat"] is True
    assert ctx.params["spool"] == "/var/lib/exectrail/spool"  # not in the file: the default
    assert context("--config", path, "--show").params["show"] is True
    plain = context("--config", "")
    assert (plain.params["mode"], plain.params["heartbeat"], plain.params["show"]) == ("auto", 60, True)


def test_the_environment_chooses_the_file(tmp_path: Path) -> None:
    path = str(write_config(tmp_path, "heartbeat = 5\n"))
    assert context(EXECTRAIL_CONFIG=path).params["heartbeat"] == 5
    assert context(EXECTRAIL_CONFIG="").params["heartbeat"] == 60
    assert context("--config", "", EXECTRAIL_CONFIG=path).params["heartbeat"] == 60


def test_store_precedence(tmp_path: Path) -> None:
    path = str(write_config(tmp_path, f'[store]\ndb = "{tmp_path}/file.db"\n'))
    assert context("--config", path).params["db"] == tmp_path / "file.db"
    assert context("--config", path, EXECTRAIL_DB=f"{tmp_path}/env.db").params["db"] == tmp_path / "env.db"
    flag = context("--config", path, "--db", f"{tmp_path}/flag.db", EXECTRAIL_DB=f"{tmp_path}/env.db")
    assert flag.params["db"] == tmp_path / "flag.db"


@pytest.mark.parametrize(
    ("file", "flags", "stored"),
    [
        ("enabled = false", [], False),
        ("enabled = false", ["--db", "{dir}/flag.db"], True),  # the flag wins over the file
        ('db = "{dir}/file.db"', ["--no-store"], False),
        ("enabled = true", [], True),
    ],
)
def test_store_on_or_off(tmp_path: Path, file: str, flags: list[str], stored: bool) -> None:
    path = str(write_config(tmp_path, "[store]\n" + file.format(dir=tmp_path) + "\n"))
    env = {"EXECTRAIL_DB": str(tmp_path / "env.db")}
    ctx = context("--config", path, *[f.format(dir=tmp_path) for f in flags], **env)
    with ctx:
        store = open_store(ctx.params["db"], ctx.params["no_store"])
    assert (store is not None) == stored
    if store is not None:
        store.close()


def test_db_and_no_store_both_typed_still_contradict(tmp_path: Path) -> None:
    ctx = context("--config", "", "--db", str(tmp_path / "x.db"), "--no-store")
    with ctx, pytest.raises(UsageError, match="contradict"):
        open_store(ctx.params["db"], ctx.params["no_store"])


def test_watch_with_a_bad_file_stops_before_the_kernel(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'mode = "deamon"\nheartbeat = -1\n[store]\ndb = "{tmp_path}/never.db"\n')
    result = invoke(["watch", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f'exectrail: {path}: mode: expected one of auto, daemon, multicast, plugin, got "deamon" '
        f"(and 1 more: exectrail config check {path})"
    ]
    assert KERNEL_REFUSED not in result.stderr and not (tmp_path / "never.db").exists()
    result = invoke(["watch"], EXECTRAIL_CONFIG=str(tmp_path / "absent.toml"))
    assert result.exit_code == 2 and result.stderr.endswith("absent.toml: no such file or directory\n")


def test_watch_with_a_good_file_goes_on_to_the_kernel(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'show = false\n[store]\ndb = "{tmp_path}/events.db"\n')
    result = invoke(["watch", "--config", str(path)])
    assert result.exit_code == 2 and KERNEL_REFUSED in result.stderr


def test_the_documented_examples(tmp_path: Path) -> None:
    """docs/install.md's Configuration section: its file passes; its 'config check' output is what the
    bad file gives."""
    page = (DOCS / "install.md").read_text()
    section = page.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    result = invoke(["config", "check", str(write_config(tmp_path, example))])
    assert result.exit_code == 0, result.stderr
    shown = section.split("$ exectrail config check /etc/exectrail/exectrail.toml\n", 1)[1].split("```", 1)[0]
    bad = write_config(
        tmp_path / "bad", 'heartbeat = "30s"\n[rules]\nkeys = "x"\n[forward]\nsinks = ["syslog://logs:514"]\n'
    )
    result = invoke(["config", "check", str(bad)])
    assert result.exit_code == 2 and result.stderr.replace(str(bad), "/etc/exectrail/exectrail.toml") == shown
