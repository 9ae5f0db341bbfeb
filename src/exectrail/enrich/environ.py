"""Chosen environment variables of a running process, from ``/proc/PID/environ``.

The file shows the process's memory *now*: the block the kernel copied at the exec, which the process
may since have overwritten (``setproctitle`` does), while ``setenv`` after the exec does not show at
all. What it says is information, not evidence; read it as early as possible after the exec.

The read is bounded (:data:`READ_LIMIT`, an environment may reach ``ARG_MAX``, a few MiB) into a
buffer kept per thread, the file is opened ``O_NOFOLLOW``, and values are decoded with
``surrogateescape`` (non-UTF-8 bytes survive; the JSON layer deals with them). A variable set twice
has the value a reader of it would take: the dynamic loader reads every ``LD_*`` entry and keeps
the last, ``getenv`` returns the first. Failures are a reason, never an exception:

- ``gone``: the process no longer exists, or is a zombie (its memory is gone: the file reads empty);
- ``unreadable``: not permitted (another user's process, unless root) or an I/O error;
- ``truncated``: the environment is longer than the limit and a chosen variable may lie beyond it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from typing import Final

from exectrail.enrich.exehash import GONE, failure
from exectrail.enrich.procparent import STAT_LIMIT, read_bounded
from exectrail.kernel.procfs import parse_stat

DEFAULT_ENV_VARS: Final = ("LD_PRELOAD", "LD_LIBRARY_PATH")


def is_env_name(name: str) -> bool:
    """An environment variable's name as the shell writes one: ASCII letters, digits and ``_``, not
    starting with a digit (``--env-var`` and ``context.env`` take only these)."""
    return bool(name) and name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit()


READ_LIMIT: Final = 256 * 1024
TRUNCATED: Final = "truncated"
_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_local = threading.local()

#: (name, ``NAME=`` as bytes, whether the last entry wins) of each usable name
Keys = tuple[tuple[str, bytes, bool], ...]


def environ_keys(names: Collection[str]) -> Keys:
    """The lookup keys of ``names``; a name that no environment entry could have (empty, or holding
    ``=`` or a NUL) is dropped."""
    keys = []
    for name in dict.fromkeys(names):
        if name and "=" not in name and "\0" not in name:
            keys.append((name, name.encode("utf-8", "surrogateescape") + b"=", name.startswith("LD_")))
    return tuple(keys)


def pick_variables(
    data: bytes | bytearray, keys: Keys, end: int | None = None, complete: bool = True
) -> tuple[dict[str, str] | None, str | None]:
    """The chosen variables set in the NUL-separated ``data[:end]``: ``(values, None)``, or
    ``(None, "truncated")`` when ``data`` is not ``complete`` and a chosen one may lie past ``end``
    (not found before it, cut by it, or an ``LD_*`` name whose later entry would win)."""
    end = len(data) if end is None else end
    found: dict[str, str] = {}
    for name, key, last_wins in keys:
        if last_wins:
            if not complete:
                return None, TRUNCATED
            at = data.rfind(b"\0" + key, 0, end)
            at = at + 1 if at >= 0 else (0 if data.startswith(key, 0, end) else -1)
        elif data.startswith(key, 0, end):
            at = 0
        else:
            at = data.find(b"\0" + key, 0, end)
            at = at + 1 if at >= 0 else -1
        if at < 0:
            if not complete:
                return None, TRUNCATED
            continue
        start = at + len(key)
        stop = data.find(b"\0", start, end)
        if stop < 0:
            if not complete:  # the value runs into the limit
                return None, TRUNCATED
            stop = end  # the last entry, its NUL overwritten
        found[name] = bytes(data[start:stop]).decode("utf-8", "surrogateescape")
    return found, None


def _buffer(size: int) -> bytearray:
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None or len(buffer) != size:
        buffer = _local.buffer = bytearray(size)
    return buffer


def read_environ_at(
    dir_fd: int, keys: Keys, limit: int = READ_LIMIT
) -> tuple[dict[str, str] | None, str | None]:
    """:func:`read_environ` of the process whose ``/proc/PID`` directory is open at ``dir_fd``, for
    the names of ``keys`` (:func:`environ_keys`, made once by a caller that reads many)."""
    if not keys:
        return {}, None
    try:
        fd = os.open("environ", _FLAGS, dir_fd=dir_fd)
    except OSError as error:
        return None, failure(error)
    buffer = _buffer(limit + 1)  # one byte more: says whether there is more without a second read
    try:
        size = os.readv(fd, [buffer])
    except OSError as error:
        return None, failure(error)
    finally:
        os.close(fd)
    if size == 0:
        return _empty(dir_fd)
    complete = size <= limit
    return pick_variables(buffer, keys, min(size, limit), complete)


def _empty(dir_fd: int) -> tuple[dict[str, str] | None, str | None]:
    """An empty ``environ``: a zombie (gone), or a process started with no environment."""
    text = read_bounded("stat", STAT_LIMIT, dir_fd)
    if not isinstance(text, bytes):
        return None, text
    parsed = parse_stat(text, 0)
    if parsed is None or parsed[0] in "ZX":
        return None, GONE
    return {}, None


def read_environ(
    pid: int, names: Collection[str], proc: str = "/proc"
) -> tuple[dict[str, str] | None, str | None]:
    """``(the chosen variables that are set, None)`` (``{}`` when none is), or ``(None, reason)``
    (``gone``, ``unreadable``, ``truncated``: see the module docstring)."""
    if pid <= 0:
        return None, GONE
    try:
        dir_fd = os.open(f"{proc}/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        return None, failure(error)
    try:
        return read_environ_at(dir_fd, environ_keys(names))
    finally:
        os.close(dir_fd)
