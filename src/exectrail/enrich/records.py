"""The context of an exec event that its own audit records give (issue 14): what
:func:`exectrail.assemble.execve.build_exec_event` asks of its context hook.

Both values depend on the records alone, so ``review``, ``import``, ``watch`` and ``search`` agree:

* ``script``: :func:`~exectrail.enrich.script.script_path` (the script an interpreter was told to run);
* ``fileless``: :func:`~exectrail.enrich.fileless.fileless_flags`. A failed exec's exe is the
  caller's, not the file's, so the flags of a failed exec judge the file it named (PATH item 0).

Speed: this runs once per exec. Most execs run no script and earn the same flags as the last exec
of the same file, so both answers are remembered per (exe, PATH names, …) in a small bounded memo;
what depends on argv (a script operand, a loader's program) is always worked out afresh.
"""

from __future__ import annotations

from exectrail.enrich.fileless import fileless_flags
from exectrail.enrich.script import may_run_script, script_path

__all__ = ["MAX_MEMO", "Context", "record_context"]

#: entries per memo; a full memo starts over
MAX_MEMO = 4096
_MAX_KEY_CHARS = 1024

#: (script, fileless)
Context = tuple[str | None, tuple[str, ...]]
_Key = tuple[str | bool | None, ...]
#: (exe, syscall, failed, cwd when it matters, *paths) -> (may a script run, the flags or None when
#: they depend on argv)
_SHAPES: dict[_Key, tuple[bool, tuple[str, ...] | None]] = {}


def record_context(
    exe: str | None,
    argv: tuple[bytes, ...] | None,
    cwd: str | None,
    syscall: str | None,
    success: bool | None,
    paths: list[str | None],
) -> Context:
    """(script, fileless) of one exec event from its records."""
    failed = success is False
    file = None if failed else exe
    key = (exe, syscall, failed, cwd if file is None else None, *paths)
    shape = _SHAPES.get(key)
    if shape is None:
        flags = fileless_flags(file, paths, syscall, argv, cwd)
        # a loader's flags depend on the program it loads (argv): worked out each time
        shape = _remember(key, (may_run_script(exe, paths), None if "loader" in flags else flags))
    else:
        known = shape[1]
        flags = known if known is not None else fileless_flags(file, paths, syscall, argv, cwd)
    script = script_path(exe, argv, cwd, paths) if shape[0] and argv else None
    return script, flags


def _remember(key: _Key, shape: tuple[bool, tuple[str, ...] | None]) -> tuple[bool, tuple[str, ...] | None]:
    if sum(len(part) for part in key if isinstance(part, str)) <= _MAX_KEY_CHARS:
        if len(_SHAPES) >= MAX_MEMO:
            _SHAPES.clear()
        _SHAPES[key] = shape
    return shape
