"""The script an interpreter was started on, from the audit records of one exec (issue 14, item 6).

Two ways a script runs, both visible in the records:

* A ``#!`` exec. PATH item 0 names the file that was executed (the script, as the caller named it);
  the later items name the interpreter and then its ELF loader. The kernel rewrites argv to
  ``interpreter [#!-argument] filename args…``, so item 0's name reappears as argv[1] or argv[2]
  (as ``/dev/fd/N/name`` or ``/dev/fd/N`` for an execveat on a descriptor). Some kernels log item 0
  twice (laurel's ``shell-proc-trace.txt``: items script, script, /bin/sh, ld-linux), so a repeat of
  item 0 is not an interpreter; a loader never is (item 1 of every dynamically linked exec).
* An interpreter run on a file (``python3 -u x.py``, ``sh -e x.sh``, ``env python3 x.py``). The
  interpreter is known by the basename of exe (argv[0] is whatever the caller chose); its options
  are skipped by its own rules. ``-c``, ``-e``, ``-m``, ``-``/stdin, ``sh -s`` and an interactive
  shell run no script file. lua runs its script after ``-e`` code, so there ``-e`` only takes a value.

Pure: nothing is read from the filesystem. A relative name is joined with cwd and ``..`` resolved
lexically, which can differ from what the kernel resolved through a symlinked directory. At most
:data:`MAX_ARGS` arguments are looked at. None when argv is missing (a failed exec: no EXECVE record).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from exectrail.kernel.procfs import DELETED

__all__ = ["MAX_ARGS", "absolute_path", "is_loader_name", "may_run_script", "script_path"]

#: arguments looked at (argv[0] included); the rest are never read
MAX_ARGS = 64
_MAX_LAUNCHERS = 4  # env env … env python3 x.py

_LOADER = re.compile(r"ld-linux[^/]*\.so[^/]*|ld-musl-[^/]*\.so[^/]*|ld(?:64)?\.so(?:\.[0-9]+)*")
_FD_NAME = re.compile(r"/dev/fd/[0-9]+(?:/(.*))?", re.DOTALL)


def script_path(
    exe: str | None, argv: Sequence[bytes] | None, cwd: str | None, paths: Sequence[str | None]
) -> str | None:
    """The script this exec ran an interpreter on, absolute when cwd allows, else as given; or None.

    ``exe`` is the SYSCALL record's exe=, ``argv`` the EXECVE arguments, ``cwd`` the CWD record and
    ``paths`` the PATH records' names in item order (None for one that could not be decoded; only
    item 0 is enough, less surely: see :func:`_shebang_script`)."""
    if not argv:
        return None
    args = tuple(argv[:MAX_ARGS])
    found = _shebang_script(exe, args, cwd, tuple(paths[:MAX_ARGS]))
    return found if found is not None else _interpreter_script(exe, args, cwd)


def may_run_script(exe: str | None, paths: Sequence[str | None]) -> bool:
    """False when :func:`script_path` is None for these exe and PATH names whatever argv and cwd are
    (most execs: neither a ``#!`` exec nor an interpreter nor ``env``), so that a caller may skip it
    and remember the answer per (exe, paths)."""
    first = paths[0] if paths else None
    if first:
        later = [p for p in paths[1:MAX_ARGS] if p is not None]
        if later:
            if not all(p == first or is_loader_name(p) for p in later):
                return True
        elif not (exe is None or first == exe or _basename(first) == _basename(exe) or _grammar_of(exe)):
            return True
    if exe is None:
        return False
    name = _basename(exe)
    return name == "env" or _TCLSH.fullmatch(name) is not None or _grammar_of(exe) is not None


def absolute_path(name: str, cwd: str | None) -> str:
    """``name`` joined with ``cwd`` when relative, ``.`` and ``..`` resolved lexically; a relative
    ``name`` with no absolute ``cwd`` comes back as given."""
    if not name.startswith("/"):
        if cwd is None or not cwd.startswith("/"):
            return name
        name = f"{cwd}/{name}"
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def is_loader_name(path: str) -> bool:
    """Whether the basename of ``path`` is a dynamic loader's (``ld-linux*.so*``, ``ld-musl-*.so*``,
    ``ld.so``, ``ld64.so.2``…), in whatever directory."""
    return _LOADER.fullmatch(_basename(path)) is not None


def _basename(path: str) -> str:
    if path.endswith(DELETED):
        path = path[: -len(DELETED)]
    return path.rpartition("/")[2]


# --- #! scripts ----------------------------------------------------------------------------------


def _shebang_script(
    exe: str | None, argv: tuple[bytes, ...], cwd: str | None, paths: tuple[str | None, ...]
) -> str | None:
    """Item 0 when the exec went through a ``#!`` line, else None.

    With the later PATH items known, an item that is neither item 0 again nor a loader is the
    interpreter. With item 0 alone (what ExecEvent keeps today) exe must differ from it (also in
    basename) and must not be a known interpreter (those are read from argv instead, so that
    ``sh -c /bin/sh`` is no script). Either way item 0 must sit in argv where the kernel puts it."""
    first = paths[0] if paths else None
    if not first:
        return None
    later = [p for p in paths[1:] if p is not None]
    if later:
        if all(p == first or is_loader_name(p) for p in later):
            return None
    elif exe is None or first == exe or _basename(first) == _basename(exe) or _grammar_of(exe):
        return None
    for arg in argv[1:3]:
        text = arg.decode("utf-8", "surrogateescape")
        if text == first:
            return absolute_path(first, cwd)
        by_fd = _FD_NAME.fullmatch(text)
        if by_fd is not None and by_fd.group(1) == first:
            return first  # relative to a directory descriptor, which the records do not name
    return None


# --- interpreters run on a file ------------------------------------------------------------------


@dataclass(frozen=True)
class _Grammar:
    """How one interpreter reads its command line, as far as finding the script goes."""

    with_value: str = ""  # letters taking a value: the rest of the token, else the next argument
    attached: str = ""  # letters whose optional value can only be the rest of the token
    no_script: str = ""  # letters after which no script file runs (code inline, stdin, help)
    script_value: str = ""  # letters whose value is the script (php -f)
    searched: str = ""  # letters that look the script up on PATH (perl -S, ruby -S)
    long_with_value: frozenset[str] = frozenset()
    long_no_script: frozenset[str] = frozenset({"help", "version"})
    long_script_value: frozenset[str] = frozenset()
    dash_is_stdin: bool = True  # "-": program from stdin (shells: end of options)
    dashdash_is_stdin: bool = False  # php: "--" then arguments for a program read from stdin
    plus_options: bool = False  # shells: +x, +o name


_PYTHON = _Grammar(with_value="WX", no_script="cmhV?",
                   long_with_value=frozenset({"check-hash-based-pycs"}),
                   long_no_script=frozenset({"help", "version", "help-env", "help-xoptions",
                                             "help-all"}))  # fmt: skip
_SHELL = _Grammar(with_value="oO", no_script="cs", dash_is_stdin=False, plus_options=True,
                  long_with_value=frozenset({"rcfile", "init-file"}))  # fmt: skip
_FISH = _Grammar(with_value="Cdfop", no_script="cv", dash_is_stdin=False,
                 long_with_value=frozenset({"init-command", "debug", "debug-output", "profile",
                                            "profile-startup", "features"}),
                 long_no_script=frozenset({"command", "help", "version"}))  # fmt: skip
_PERL = _Grammar(with_value="IMm", attached="0CdDFilxV", no_script="eEhv", searched="S")
_RUBY = _Grammar(with_value="IrCE", attached="0xTWFK", no_script="eh", searched="S",
                 long_with_value=frozenset({"enable", "disable", "encoding", "external-encoding",
                                            "internal-encoding"}))  # fmt: skip
_NODE = _Grammar(with_value="rC", no_script="ephv",
                 long_with_value=frozenset({"require", "import", "loader", "experimental-loader",
                                            "conditions", "input-type", "title", "env-file",
                                            "disable-warning", "redirect-warnings", "inspect-port",
                                            "icu-data-dir", "openssl-config", "unhandled-rejections",
                                            "diagnostic-dir", "report-dir", "report-directory",
                                            "report-filename", "report-signal", "watch-path"}),
                 long_no_script=frozenset({"eval", "print", "run", "help", "version"}))  # fmt: skip
_PHP = _Grammar(with_value="cdztS", no_script="rRBEaimhv", script_value="fF", dashdash_is_stdin=True,
                long_with_value=frozenset({"php-ini", "define", "zend-extension", "docroot", "server"}),
                long_script_value=frozenset({"file", "process-file"}),
                long_no_script=frozenset({"run", "process-code", "process-begin", "process-end",
                                          "interactive", "info", "modules", "ini", "rf", "rc", "re",
                                          "rz", "ri", "help", "version"}))  # fmt: skip
_LUA = _Grammar(with_value="el", no_script="v")
_RSCRIPT = _Grammar(no_script="e")

_GRAMMARS: tuple[tuple[re.Pattern[str], _Grammar], ...] = (
    (re.compile(r"python[0-9.]*"), _PYTHON),
    (re.compile(r"(?:ba|da|z|k|mk|a|c|tc)?sh[0-9.]*"), _SHELL),
    (re.compile(r"fish"), _FISH),
    (re.compile(r"perl[0-9.]*"), _PERL),
    (re.compile(r"ruby[0-9.]*"), _RUBY),
    (re.compile(r"node(?:js)?[0-9.]*"), _NODE),
    (re.compile(r"php[0-9.]*(?:-cli)?"), _PHP),
    (re.compile(r"lua[0-9.]*"), _LUA),
    (re.compile(r"Rscript"), _RSCRIPT),
)
_TCLSH = re.compile(r"tclsh[0-9.]*")


def _grammar_of(program: str) -> _Grammar | None:
    name = _basename(program)
    for pattern, grammar in _GRAMMARS:
        if pattern.fullmatch(name):
            return grammar
    return None


def _interpreter_script(exe: str | None, argv: tuple[bytes, ...], cwd: str | None) -> str | None:
    """The file operand of an interpreter (exe, or the command an ``env`` in exe starts)."""
    if exe is None:
        return None
    program, args = exe, argv[1:]
    for _ in range(_MAX_LAUNCHERS):
        if _basename(program) != "env":
            break
        launched = _past_env(args, cwd)
        if launched is None:
            return None
        command, args, cwd = launched
        program = command.decode("utf-8", "surrogateescape")
    if _TCLSH.fullmatch(_basename(program)):
        operand: tuple[bytes, bool] | None = _tclsh_operand(args)
    else:
        grammar = _grammar_of(program)
        operand = None if grammar is None else _operand(grammar, args)
    if operand is None or not operand[0]:
        return None
    name, searched = operand[0].decode("utf-8", "surrogateescape"), operand[1]
    return name if searched and "/" not in name else absolute_path(name, cwd)


def _operand(grammar: _Grammar, args: Sequence[bytes]) -> tuple[bytes, bool] | None:
    """The script operand of ``args`` (argv after the interpreter) and whether it is looked up on
    PATH; None when these options run no file."""
    searched = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == b"--":
            if grammar.dashdash_is_stdin:
                return None
            return (args[i], searched) if i < len(args) else None
        if arg == b"-":
            if grammar.dash_is_stdin:
                return None
            return (args[i], searched) if i < len(args) else None
        if arg.startswith(b"--"):
            name, equals, value = arg[2:].decode("utf-8", "surrogateescape").partition("=")
            if name in grammar.long_no_script:
                return None
            if name in grammar.long_script_value:
                if equals:
                    return value.encode("utf-8", "surrogateescape"), searched
                return (args[i], searched) if i < len(args) else None
            if name in grammar.long_with_value and not equals:
                i += 1
            continue
        if arg.startswith(b"-") or (grammar.plus_options and arg.startswith(b"+")):
            letters = arg[1:].decode("latin-1")
            for at, letter in enumerate(letters):
                rest = letters[at + 1 :]
                if letter in grammar.no_script:
                    return None
                if letter in grammar.searched:
                    searched = True
                if letter in grammar.script_value:
                    if rest:
                        return rest.encode("latin-1"), searched
                    return (args[i], searched) if i < len(args) else None
                if letter in grammar.with_value:
                    i += 0 if rest else 1
                    break
                if letter in grammar.attached:
                    break
            continue
        return arg, searched
    return None


def _tclsh_operand(args: Sequence[bytes]) -> tuple[bytes, bool] | None:
    """tclsh's own rule: ``-encoding name file`` or a first argument not starting with ``-``."""
    if len(args) >= 3 and args[0] == b"-encoding" and not args[2].startswith(b"-"):
        return args[2], False
    if args and not args[0].startswith(b"-"):
        return args[0], False
    return None


_ENV_FLAGS = {b"-", b"-i", b"-0", b"-v", b"--ignore-environment", b"--null", b"--debug",
              b"--list-signal-handling"}  # fmt: skip
_ENV_LONG_WITH_VALUE = {b"--unset", b"--chdir", b"--split-string", b"--argv0"}
_ENV_LETTERS_WITH_VALUE = b"uCSa"


def _past_env(args: Sequence[bytes], cwd: str | None) -> tuple[bytes, tuple[bytes, ...], str | None] | None:
    """What GNU ``env ARGS`` runs: (command, its arguments, its cwd), or None when it runs nothing.

    ``-S``/``--split-string`` is split as env splits it (quotes, backslashes; ``${VAR}`` is left as
    is) and read again as arguments; ``-C``/``--chdir`` moves the cwd; ``NAME=VALUE`` is skipped."""
    pending = list(args[:MAX_ARGS])
    for _ in range(2 * MAX_ARGS):
        if not pending:
            return None
        arg = pending.pop(0)
        value: bytes | None = None
        option = b""
        if arg == b"--":
            break
        long_flag = arg.startswith(b"--") and b"=" not in arg and arg not in _ENV_LONG_WITH_VALUE
        if arg in _ENV_FLAGS or long_flag:
            continue
        if arg.startswith(b"--"):
            option, equals, value = arg.partition(b"=")
            if not equals:
                value = pending.pop(0) if pending else b""
        elif arg.startswith(b"-"):
            for at in range(1, len(arg)):
                letter = arg[at : at + 1]
                if letter in _ENV_LETTERS_WITH_VALUE:
                    option = letter
                    value = arg[at + 1 :] or (pending.pop(0) if pending else b"")
                    break
        elif b"=" in arg:
            continue  # NAME=VALUE
        else:
            return arg, tuple(pending), cwd
        if value is None:
            continue
        if option in (b"C", b"--chdir"):
            moved = absolute_path(value.decode("utf-8", "surrogateescape"), cwd)
            cwd = moved if moved.startswith("/") else None
        elif option in (b"S", b"--split-string"):
            pending[:0] = _split_string(value)
            del pending[MAX_ARGS:]
    else:
        return None
    return (pending[0], tuple(pending[1:]), cwd) if pending else None


def _split_string(value: bytes) -> list[bytes]:
    text = value.decode("utf-8", "surrogateescape")
    try:
        words = shlex.split(text)
    except ValueError:  # an unclosed quote: env would refuse; split on blanks instead
        words = text.split()
    return [word.encode("utf-8", "surrogateescape") for word in words[:MAX_ARGS]]
