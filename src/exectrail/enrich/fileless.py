"""Flags for fileless and odd execs, from the audit records of one exec (issue 14, item 5).

What each flag rests on:

* ``memfd``: exe starts with ``/memfd:`` (the kernel shows a memfd as ``/memfd:NAME (deleted)``).
* ``deleted``: exe ends with `` (deleted)`` and is no memfd: the file was unlinked by the time the
  exec finished. A file really named ``x (deleted)`` looks the same; the hash's inode check tells.
* ``fd``: an execveat whose PATH item 0 name is empty (``AT_EMPTY_PATH``: fexecve), or the file
  named as ``/proc/self/fd/N``, ``/proc/PID/fd/N``, ``/proc/thread-self/fd/N`` or ``/dev/fd/N``
  (glibc's fexecve on old kernels; ``ld.so /proc/self/fd/3``).
* ``scratch-dir``: the executed file is under ``/tmp``, ``/dev/shm``, ``/var/tmp`` or
  ``/run/user/*``, or any component of its path starts with ``.``: a hidden directory, or the file
  itself hidden. ``/tmpfoo`` is not ``/tmp``. Note that ``~/.local/bin``, ``~/.cargo/bin`` and
  ``~/.pyenv`` are hidden directories too.
* ``loader``: exe (else item 0) is a dynamic loader by name (``ld-linux*.so*``, ``ld-musl-*.so*``,
  ``ld.so``, ``ld64.so.N``), in whatever directory: a copy in ``/tmp`` still counts; a copy renamed
  does not (only its hash can tell).

The executed file is exe (the kernel's own path of it, `` (deleted)`` cut off), else PATH item 0
made absolute with cwd (an execveat name is relative to a descriptor the records do not name, so it
stays as given). For a loader run directly, the program it loads (the first argv operand after the
loader's options) counts as executed too, so ``ld.so /dev/shm/x`` is ``scratch-dir`` as well.

For a failed exec exe is the caller's, not the file's: pass ``exe=None`` to judge the file named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from exectrail.enrich.script import MAX_ARGS, absolute_path, is_loader_name
from exectrail.kernel.procfs import DELETED

__all__ = ["FLAGS", "fileless_flags"]

#: every flag, in the order :func:`fileless_flags` gives them
FLAGS = ("memfd", "deleted", "fd", "scratch-dir", "loader")

_BY_FD = re.compile(r"/(?:proc/(?:self|thread-self|[0-9]+)/fd|dev/fd)/.")
_SCRATCH = (("tmp",), ("dev", "shm"), ("var", "tmp"), ("run", "user", None))
# ld.so's own options that take a value (glibc rtld, musl ldso)
_LOADER_WITH_VALUE = {b"--library-path", b"--preload", b"--audit", b"--argv0", b"--inhibit-rpath",
                      b"--glibc-hwcaps-prepend", b"--glibc-hwcaps-mask"}  # fmt: skip


def fileless_flags(
    exe: str | None,
    paths: Sequence[str | None],
    syscall: str | None,
    argv: Sequence[bytes] | None,
    cwd: str | None = None,
) -> tuple[str, ...]:
    """The :data:`FLAGS` this exec earns, in that order.

    ``exe`` is the SYSCALL record's exe=, ``paths`` the PATH records' names in item order,
    ``syscall`` ``"execve"`` or ``"execveat"``, ``argv`` the EXECVE arguments; ``cwd`` (the CWD
    record) makes a relative item 0 absolute for ``scratch-dir`` when exe is unknown."""
    first = paths[0] if paths else None
    memfd = exe is not None and exe.startswith("/memfd:")
    deleted = exe is not None and exe.endswith(DELETED) and not memfd
    files: list[str] = []  # what ran: the executed file, and the program a loader loads
    if exe is not None and not memfd:
        files.append(absolute_path(exe[: -len(DELETED)] if deleted else exe, None))
    elif exe is None and first:
        files.append(first if syscall == "execveat" else absolute_path(first, cwd))
    loader = is_loader_name(exe if exe is not None else first or "") and not memfd
    if loader:
        loaded = _loaded_program(argv)
        if loaded is not None:
            files.append(loaded if "/" not in loaded else absolute_path(loaded, cwd))
    by_fd = (syscall == "execveat" and first == "") or any(
        _BY_FD.match(name) for name in (exe, first, *files) if name
    )
    scratch = any(_in_scratch_dir(name) for name in files)
    earned = (memfd, deleted, by_fd, scratch, loader)
    return tuple(flag for flag, on in zip(FLAGS, earned, strict=True) if on)


def _in_scratch_dir(path: str) -> bool:
    """Under a world-writable scratch directory (absolute paths only), or anywhere hidden."""
    parts = [part for part in path.split("/") if part and part != "."]
    if any(part.startswith(".") and part != ".." for part in parts):
        return True
    if not path.startswith("/"):
        return False
    for prefix in _SCRATCH:
        if len(parts) > len(prefix) and all(
            want is None or part == want for want, part in zip(prefix, parts, strict=False)
        ):
            return True
    return False


def _loaded_program(argv: Sequence[bytes] | None) -> str | None:
    """The program a loader run directly loads: its first operand after its own ``--`` options."""
    if not argv:
        return None
    skip = False
    for arg in argv[1:MAX_ARGS]:
        if skip:
            skip = False
        elif arg in _LOADER_WITH_VALUE:
            skip = True
        elif not arg.startswith(b"--"):
            return arg.decode("utf-8", "surrogateescape") or None
    return None
