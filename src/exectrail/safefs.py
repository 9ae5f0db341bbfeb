"""Files that exectrail writes (often as root), created and opened so nobody else can steer them.

The rules, after sshd's StrictModes and auditd:

- every directory on the way to a file (symbolic links resolved first) is owned by root or by the
  running user and is not writable by group or others, unless it has the sticky bit (``/tmp``);
- the directory that holds the file is owned by root or the running user and not writable by group
  or others at all (sticky or not); missing directories are created with mode 0700;
- the file itself is opened with ``O_NOFOLLOW`` relative to that directory (a symbolic link is
  refused), created with ``O_EXCL`` and mode 0600, and must be a regular file owned by the running
  user and not writable by group or others.

Anything else is an :class:`UnsafePathError`: one line naming the path and why (exit 2).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from exectrail.errors import ExectrailError

FILE_MODE = 0o600
DIR_MODE = 0o700
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class UnsafePathError(ExectrailError):
    """A path exectrail would write is not safe to use (owner, mode, symbolic link)."""


def _who(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return f"uid {uid}"


def _check_dir(path: str, st: os.stat_result, *, holder: bool) -> None:
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    if st.st_uid not in (0, os.geteuid()):
        raise UnsafePathError(
            f"{path}: directory owned by {_who(st.st_uid)}, not by root or the running user; refused"
        )
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if st.st_mode & _WRITABLE_BY_OTHERS and (holder or not sticky):
        whom = "others" if st.st_mode & stat.S_IWOTH else "its group"
        raise UnsafePathError(
            f"{path}: directory writable by {whom} (mode {stat.S_IMODE(st.st_mode):04o}); refused "
            f"(use chmod go-w, or another directory)"
        )


def _check_above(directory: str) -> None:
    """Every directory above ``directory`` (resolved), up to ``/``."""
    parent = directory
    while parent != "/":
        parent = os.path.dirname(parent)
        _check_dir(parent, os.stat(parent), holder=False)


def check_chain(directory: str) -> None:
    """Check ``directory`` (already resolved) and every directory above it."""
    _check_dir(directory, os.stat(directory), holder=True)
    _check_above(directory)


def check_parent(directory: str | Path) -> Path:
    """The real path of an existing ``directory`` to put a new file in, after checking it (sticky
    ``/tmp`` will do: nobody else can replace what we make there) and every directory above it."""
    real = os.path.realpath(os.fspath(directory))
    _check_dir(real, os.stat(real), holder=False)
    _check_above(real)
    return Path(real)


def secure_dir(directory: str | Path, *, create: bool = True) -> Path:
    """The real path of ``directory`` after checking it and its parents; missing parts are made 0700.

    Raise :class:`UnsafePathError` for an unsafe directory and ``OSError`` when it cannot be made.
    """
    path = os.path.abspath(os.fspath(directory))
    missing: list[str] = []
    existing = path
    while not os.path.lexists(existing):
        if not create:
            raise FileNotFoundError(2, "No such file or directory", path)
        missing.append(os.path.basename(existing))
        existing = os.path.dirname(existing)
    real = os.path.realpath(existing)
    if missing:
        # the deepest existing directory is only a parent (sticky /tmp will do): we add to it
        _check_dir(real, os.stat(real), holder=False)
        _check_above(real)
        for name in reversed(missing):
            real = os.path.join(real, name)
            with contextlib.suppress(FileExistsError):  # made meanwhile: checked below like any
                os.mkdir(real, DIR_MODE)
            st = os.lstat(real)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(f"{real}: is a symbolic link (planted while creating it?); refused")
            _check_dir(real, st, holder=True)
        return Path(real)
    check_chain(real)
    return Path(real)


def check_file(path: str | Path, st: os.stat_result) -> None:
    """Refuse a file that is not regular, not the running user's, or writable by group/others."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(f"{path}: not a regular file; refused")
    if st.st_uid != os.geteuid():
        raise UnsafePathError(f"{path}: owned by {_who(st.st_uid)}, not by the running user; refused")
    if st.st_mode & _WRITABLE_BY_OTHERS:
        raise UnsafePathError(
            f"{path}: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); refused "
            "(chmod 600 it if it is really yours)"
        )


@contextlib.contextmanager
def open_dir(directory: str | Path) -> Iterator[int]:
    """A descriptor of an (already checked) directory, for ``dir_fd`` calls."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def open_in(dir_fd: int, display: str | Path, name: str, flags: int, *, exclusive: bool = False) -> int:
    """Open ``name`` under ``dir_fd`` without following a symbolic link; checked by :func:`check_file`.

    ``flags`` may hold ``O_CREAT`` (mode 0600); ``exclusive`` adds ``O_EXCL``. ``display`` is the
    path named in errors.
    """
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_EXCL | os.O_CREAT if exclusive else 0)
    try:
        if not exclusive:  # say why before a permission error can hide it
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise UnsafePathError(f"{display}: is a symbolic link; refused")
                check_file(display, st)
        fd = os.open(name, flags, FILE_MODE, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the name is a symbolic link
            raise UnsafePathError(f"{display}: is a symbolic link; refused") from None
        raise OSError(exc.errno, exc.strerror, os.fspath(display)) from None
    try:
        check_file(display, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | Path, flags: int, *, exclusive: bool = False) -> int:
    """Open ``path`` after :func:`secure_dir` on its directory (created if missing) and :func:`open_in`."""
    path = Path(os.path.abspath(os.fspath(path)))
    directory = secure_dir(path.parent)
    with open_dir(directory) as dir_fd:
        return open_in(dir_fd, path, path.name, flags, exclusive=exclusive)


def open_append(path: str | Path) -> IO[bytes]:
    """``path`` opened for appending (created 0600), e.g. the plugin's JSONL output file.

    A pipe or a character device (``/dev/null``) in a checked directory is taken as it is: writing
    to it cannot overwrite a file.
    """
    path = Path(os.path.abspath(os.fspath(path)))
    with contextlib.suppress(OSError):
        if _is_stream(os.lstat(path)):
            directory = secure_dir(path.parent, create=False)
            with open_dir(directory) as dir_fd:
                fd = os.open(
                    path.name, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                )
            if _is_stream(os.fstat(fd)):
                return os.fdopen(fd, "ab")
            os.close(fd)
    fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "ab")


def _is_stream(st: os.stat_result) -> bool:
    return stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)


def write_replace(directory: str | Path, name: str, data: bytes) -> None:
    """Replace ``directory/name`` atomically with ``data`` (0600, via an exclusive temporary file)."""
    tmp = f".{name}.tmp"
    with open_dir(directory) as dir_fd:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        fd = open_in(dir_fd, Path(directory) / tmp, tmp, os.O_WRONLY, exclusive=True)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise


_umask_lock = threading.Lock()


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """umask 077 for the block (for files others create for us, e.g. SQLite's -wal/-shm)."""
    with _umask_lock:
        saved = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(saved)


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "UnsafePathError",
    "check_chain",
    "check_file",
    "check_parent",
    "open_append",
    "open_dir",
    "open_in",
    "open_private",
    "private_umask",
    "secure_dir",
    "write_replace",
]
