"""environ: chosen variables of real processes (children started with a chosen environment), gone,
zombie, unreadable (as nobody), truncated past the cap, planted files, and the picker against a plain
reference on any environment (hypothesis)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exectrail.enrich.environ import (
    DEFAULT_ENV_VARS,
    READ_LIMIT,
    environ_keys,
    is_env_name,
    pick_variables,
    read_environ,
)
from tests.support.cli import run_cli
from tests.support.procwait import in_thread, wait_exec
from tests.support.rootsafe_users import NOBODY, as_user, need_root

SLEEP = "/bin/sleep"


def libc_path() -> str:
    """A shared library that exists and is harmless to preload: this process's libc."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "/libc.so" in line or "/libc-" in line:
            return line.split(maxsplit=5)[5]
    pytest.fail("no libc in /proc/self/maps")


@pytest.fixture
def start() -> Iterator[Callable[[Mapping[bytes, bytes]], subprocess.Popen[bytes]]]:
    """Start ``sleep 60`` with exactly the given environment (killed at the end)."""
    started: list[subprocess.Popen[bytes]] = []

    def run(env: Mapping[bytes, bytes]) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen([SLEEP, "60"], env=env))
        wait_exec(started[-1].pid)
        return started[-1]

    yield run
    for proc in started:
        proc.kill()
        proc.wait()


def test_the_chosen_variables_of_a_real_process(start: Callable[..., subprocess.Popen[bytes]]) -> None:
    lib = libc_path()
    proc = start({b"PATH": b"/bin", b"LD_PRELOAD": lib.encode(), b"LD_LIBRARY_PATH": b"/opt/x:/opt/y"})
    assert read_environ(proc.pid, DEFAULT_ENV_VARS) == (
        {"LD_PRELOAD": lib, "LD_LIBRARY_PATH": "/opt/x:/opt/y"},
        None,
    )
    assert read_environ(proc.pid, ["PATH", "HOME"]) == ({"PATH": "/bin"}, None)
    assert read_environ(proc.pid, []) == ({}, None)


def test_none_set_is_an_empty_dict_not_missing(start: Callable[..., subprocess.Popen[bytes]]) -> None:
    assert read_environ(start({b"PATH": b"/bin"}).pid, DEFAULT_ENV_VARS) == ({}, None)
    # a process started with no environment at all reads empty, like a zombie, but is no zombie
    assert read_environ(start({}).pid, DEFAULT_ENV_VARS) == ({}, None)


def test_an_empty_value_and_non_utf8_bytes(start: Callable[..., subprocess.Popen[bytes]]) -> None:
    proc = start({b"LD_PRELOAD": b"", b"LD_LIBRARY_PATH": b"/tmp/\xff\xfe"})
    found, missing = read_environ(proc.pid, DEFAULT_ENV_VARS)
    assert missing is None and found is not None and found["LD_PRELOAD"] == ""
    assert found["LD_LIBRARY_PATH"].encode("utf-8", "surrogateescape") == b"/tmp/\xff\xfe"


def test_setenv_after_the_exec_does_not_show() -> None:
    os.environ["EXECTRAIL_TEST_SETENV"] = "1"  # in this process's heap, not its exec-time block
    try:
        assert read_environ(os.getpid(), ["EXECTRAIL_TEST_SETENV"]) == ({}, None)
    finally:
        del os.environ["EXECTRAIL_TEST_SETENV"]


def test_zombie_reaped_and_unknown_pids_are_gone() -> None:
    proc = subprocess.Popen([SLEEP, "60"], env={"LD_PRELOAD": ""})
    proc.kill()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # a zombie: its memory is gone
    assert read_environ(proc.pid, DEFAULT_ENV_VARS) == (None, "gone")
    proc.wait()
    assert read_environ(proc.pid, DEFAULT_ENV_VARS) == (None, "gone")
    assert read_environ(0, DEFAULT_ENV_VARS) == (None, "gone")
    assert read_environ(-5, DEFAULT_ENV_VARS) == (None, "gone")
    assert read_environ(os.getpid(), DEFAULT_ENV_VARS, proc="/nonexistent") == (None, "gone")


def test_another_users_process_is_unreadable() -> None:
    need_root()
    pid = os.getpid()
    assert as_user(NOBODY, lambda: read_environ(pid, DEFAULT_ENV_VARS)) == (None, "unreadable")


def test_past_the_cap_is_truncated_only_when_a_chosen_one_may_be_there(
    start: Callable[..., subprocess.Popen[bytes]],
) -> None:
    # one string may not exceed 128 KiB (MAX_ARG_STRLEN): the filler is several
    fillers = {f"FILLER{i}".encode(): b"x" * 65536 for i in range(READ_LIMIT // 65536 + 1)}
    early = start({b"EARLY": b"1", b"LD_PRELOAD": b"/first", **fillers, b"LATE": b"2"})
    # a name whose first entry wins, found before the cap: the rest does not matter
    assert read_environ(early.pid, ["EARLY"]) == ({"EARLY": "1"}, None)
    # not found before the cap: it may be past it
    assert read_environ(early.pid, ["LATE"]) == (None, "truncated")
    assert read_environ(early.pid, ["ABSENT"]) == (None, "truncated")
    # the loader takes the last LD_PRELOAD entry: one past the cap would win
    assert read_environ(early.pid, ["LD_PRELOAD"]) == (None, "truncated")
    # exactly at the cap, nothing more: complete
    exact = start({f"F{i}".encode(): b"y" * 65532 for i in range(READ_LIMIT // 65536)})  # F0=y…\0: 64 KiB
    assert read_environ(exact.pid, ["LD_PRELOAD", "F"])[1] is None


def test_planted_links_fifos_and_directories_are_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"LD_PRELOAD=/evil\0")
    (tmp_path / "proc" / "7").mkdir(parents=True)
    (tmp_path / "proc" / "7" / "environ").symlink_to(target)
    assert read_environ(7, DEFAULT_ENV_VARS, proc=str(tmp_path / "proc")) == (None, "unreadable")
    (tmp_path / "proc" / "8").symlink_to(tmp_path / "proc" / "9")  # the pid's directory itself
    (tmp_path / "proc" / "9").mkdir()
    (tmp_path / "proc" / "9" / "environ").write_bytes(b"LD_PRELOAD=/evil\0")
    assert read_environ(8, DEFAULT_ENV_VARS, proc=str(tmp_path / "proc")) == (None, "unreadable")
    assert read_environ(9, DEFAULT_ENV_VARS, proc=str(tmp_path / "proc")) == ({"LD_PRELOAD": "/evil"}, None)
    (tmp_path / "proc" / "10").mkdir()
    os.mkfifo(tmp_path / "proc" / "10" / "environ")
    # no writer: reads empty at once, and no stat beside it says it is a process
    assert in_thread(lambda: read_environ(10, DEFAULT_ENV_VARS, proc=str(tmp_path / "proc"))) == (
        None,
        "gone",
    )
    (tmp_path / "proc" / "11" / "environ").mkdir(parents=True)
    assert read_environ(11, DEFAULT_ENV_VARS, proc=str(tmp_path / "proc")) == (None, "unreadable")


def test_names_no_entry_could_have_are_dropped() -> None:
    assert [name for name, _, _ in environ_keys(["A", "", "B=C", "D\0", "A", "LD_X"])] == ["A", "LD_X"]
    assert [last for _, _, last in environ_keys(["PATH", "LD_PRELOAD"])] == [False, True]


def test_duplicates_take_what_their_reader_takes() -> None:
    data = b"LD_PRELOAD=/a\0PATH=/bin\0LD_PRELOAD=/b\0PATH=/usr/bin\0"
    keys = environ_keys(["LD_PRELOAD", "PATH"])
    assert pick_variables(data, keys) == ({"LD_PRELOAD": "/b", "PATH": "/bin"}, None)
    # a name inside a value or a longer name is no entry
    data = b"X=LD_PRELOAD=/no\0LD_PRELOADX=/no\0MY_PATH=/no\0"
    assert pick_variables(data, keys) == ({}, None)
    # the last entry's NUL overwritten: its value runs to the end
    assert pick_variables(b"A=1\0PATH=/x", keys) == ({"PATH": "/x"}, None)


def reference(entries: list[tuple[str, str]], names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        values = [value for key, value in entries if key == name]
        if values:
            found[name] = values[-1] if name.startswith("LD_") else values[0]
    return found


NAMES = st.sampled_from(["LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "HOME", "P", "LD_"])
VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)


@given(st.lists(st.tuples(NAMES, VALUES), max_size=12), st.lists(NAMES, max_size=4), st.integers(0, 200))
def test_the_picker_agrees_with_a_reference_and_is_honest_when_cut(
    entries: list[tuple[str, str]], names: list[str], cut: int
) -> None:
    data = b"".join(f"{key}={value}".encode() + b"\0" for key, value in entries)
    keys = environ_keys(names)
    assert pick_variables(data, keys) == (reference(entries, list(dict.fromkeys(names))), None)
    end = min(cut, len(data))
    partial, reason = pick_variables(data, keys, end, complete=end == len(data))
    assert (partial, reason) == (reference(entries, list(dict.fromkeys(names))), None) or (
        (partial, reason) == (None, "truncated") and end < len(data)
    )


@given(st.binary(max_size=300), st.lists(st.text(max_size=5), max_size=4), st.booleans())
def test_the_picker_never_raises(data: bytes, names: list[str], complete: bool) -> None:
    found, reason = pick_variables(data, environ_keys(names), complete=complete)
    assert (found is None) == (reason == "truncated")


@pytest.mark.parametrize("name", ["A=B", "1X", "", "LD PRELOAD", "É", "X\n"])
def test_watch_refuses_an_env_var_that_is_no_name_before_touching_anything(name: str, tmp_path: Path) -> None:
    result = run_cli(["watch", "--env-var", "LD_PRELOAD", "--env-var", name, "--no-store", "--duration", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"exectrail: --env-var {name!r}: expected an environment variable name such as LD_PRELOAD"
    )


@pytest.mark.parametrize("name", ["LD_PRELOAD", "_X", "a1", "LD_AUDIT"])
def test_env_names(name: str) -> None:
    assert is_env_name(name)
