"""record_context: the memo never changes an answer (argv-dependent ones are worked out each time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exectrail.assemble.execve import NO_CONTEXT, ExecFacts, build_exec_event
from exectrail.assemble.grouper import Assembler
from exectrail.enrich import records
from exectrail.enrich.fileless import fileless_flags
from exectrail.enrich.records import Context, record_context
from exectrail.enrich.script import may_run_script, script_path
from exectrail.model import Diagnostics
from exectrail.parse.logfile import read_records
from tests.support.paths import CAPTURED_LOGS

LOADER = "/usr/lib64/ld-linux-x86-64.so.2"


def _direct(
    exe: str | None,
    argv: tuple[bytes, ...] | None,
    cwd: str | None,
    syscall: str | None,
    success: bool | None,
    paths: list[str | None],
) -> Context:
    file = None if success is False else exe
    return script_path(exe, argv, cwd, paths), fileless_flags(file, paths, syscall, argv, cwd)


def test_a_loader_run_directly_is_judged_by_the_program_it_loads_each_time() -> None:
    records._SHAPES.clear()
    paths: list[str | None] = [LOADER]
    first = record_context(LOADER, (b"ld.so", b"/usr/bin/true"), "/", "execve", True, paths)
    again = record_context(LOADER, (b"ld.so", b"/dev/shm/x"), "/", "execve", True, paths)
    assert first == (None, ("loader",)) and again == (None, ("scratch-dir", "loader"))


def test_scripts_follow_argv_for_the_same_exe() -> None:
    records._SHAPES.clear()
    paths: list[str | None] = ["/usr/bin/python3", LOADER]
    assert may_run_script("/usr/bin/python3.11", paths)
    got = [
        record_context("/usr/bin/python3.11", argv, "/srv", "execve", True, paths)[0]
        for argv in ((b"python3", b"a.py"), (b"python3", b"-c", b"pass"), (b"python3", b"b.py"))
    ]
    assert got == ["/srv/a.py", None, "/srv/b.py"]


def test_a_failed_exec_is_judged_by_the_file_it_named() -> None:
    records._SHAPES.clear()
    ok = record_context("/tmp/x", (b"x",), "/", "execve", True, ["/tmp/x"])
    failed = record_context("/usr/bin/sh", None, "/tmp", "execve", False, ["y"])
    named = record_context("/usr/bin/sh", None, "/", "execve", False, ["y"])
    assert (ok, failed, named) == ((None, ("scratch-dir",)), (None, ("scratch-dir",)), (None, ()))


@pytest.mark.parametrize("log", CAPTURED_LOGS, ids=lambda p: p.name)
def test_the_memo_gives_the_direct_answers_for_every_captured_exec(log: Path) -> None:
    calls: list[Any] = []

    def spy(facts: ExecFacts) -> tuple[Any, ...]:
        args = (facts.exe, facts.argv, facts.cwd, facts.syscall, facts.success, facts.paths)
        calls.append(args)
        return (*record_context(*args), *NO_CONTEXT[2:])

    records._SHAPES.clear()
    diagnostics = Diagnostics()
    assembler = Assembler()
    groups = [g for r in read_records([log], diagnostics) for g in assembler.feed(r)] + assembler.flush()
    for _ in range(2):  # cold, then from the memo
        calls.clear()
        events = [build_exec_event(g, diagnostics, spy) for g in groups]
        assert len(calls) == sum(e is not None for e in events) > 100
        for args, event in zip(calls, [e for e in events if e is not None], strict=True):
            assert (event.script, event.fileless) == _direct(*args) == record_context(*args)
