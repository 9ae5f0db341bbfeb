"""The context of an exec event that its own audit records give (issue 14): what
:func:`exectrail.assemble.execve.build_exec_event` asks of its context hook.

Both values depend on the records alone, so ``review``, ``import``, ``watch`` and ``search`` agree:

* ``script``: :func:`~exectrail.enrich.script.script_path` (the script an interpreter was told to run);
* ``fileless``: :func:`~exectrail.enrich.fileless.fileless_flags`. A failed exec's exe is the
  caller's, not the file's, so the flags of a failed exec judge the file it named (PATH item 0).

Speed: this runs once per exec. Most execs run no script and earn the same flags as the last exec
of the same file, so both answers are remembered per (exe, PATH names, …) in small bounded memos;
what depends on argv (a script operand, a loader's program) is always worked out afresh.
"""

from __future__ import annotations

from typing import TypeVar

from exectrail.assemble.execve import Context
from exectrail.enrich.fileless import fileless_flags
from exectrail.enrich.script import may_run_script, script_path

__all__ = ["MAX_MEMO", "record_context"]

#: entries per memo; a full memo starts over
MAX_MEMO = 4096
_MAX_KEY_CHARS = 1024

_Key = tuple[str | None, ...]
_V = TypeVar("_V")
_SCRIPTED: dict[_Key, bool] = {}  # (exe, *paths) -> may_run_script
_FLAGS: dict[_Key, tuple[str, ...]] = {}  # (file, syscall, cwd, *paths) -> flags


def record_context(
    exe: str | None,
    argv: tuple[bytes, ...] | None,
    cwd: str | None,
    syscall: str | None,
    success: bool | None,
    paths: list[str | None],
) -> Context:
    """(script, fileless) of one exec event from its records (a
    :data:`~exectrail.assemble.execve.ContextHook`)."""
    shape = (exe, *paths)
    scripted = _SCRIPTED.get(shape)
    if scripted is None:
        scripted = _remember(_SCRIPTED, shape, may_run_script(exe, paths))
    script = script_path(exe, argv, cwd, paths) if scripted and argv else None
    file = exe if success is not False else None
    key = (file, syscall, cwd if file is None else None, *paths)
    flags = _FLAGS.get(key)
    if flags is None:
        flags = fileless_flags(file, paths, syscall, argv, cwd)
        if "loader" not in flags:  # a loader's flags depend on the program it loads (argv)
            _remember(_FLAGS, key, flags)
    return script, flags


def _remember(memo: dict[_Key, _V], key: _Key, value: _V) -> _V:
    if sum(len(part) for part in key if isinstance(part, str)) <= _MAX_KEY_CHARS:
        if len(memo) >= MAX_MEMO:
            memo.clear()
        memo[key] = value
    return value
