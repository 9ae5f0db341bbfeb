"""Run a piece of a test as root or as ``nobody``: fork, drop to the user, report through a pipe.

/root is 0700, so the venv's python cannot be started as ``nobody``; a forked child of the test
process already has everything imported and only needs ``setgid``/``setuid``. The function's
result (or its exception, as ``"TypeName: message"``) comes back pickled.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.ci import skip_or_fail

NOBODY = 65534
STRANGER = 4242  # the attacker: neither root (trusted by everyone) nor the user running exectrail
USERS = {"root": 0, "nobody": NOBODY}


class Failed(Exception):
    """The function raised in the child: ``str()`` is ``"TypeName: message"``."""


def outcome(fn: Callable[[], Any]) -> Any:
    """``fn()``, or the text of the exception it raised (``"UnsafePathError: …"``)."""
    try:
        return fn()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def as_user(uid: int, fn: Callable[[], Any]) -> Any:
    """``outcome(fn)`` computed by a process running as ``uid`` (group the same number)."""
    if uid == os.geteuid():
        return outcome(fn)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            data = pickle.dumps(outcome(fn))
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as fh:
        chunks.append(fh.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child died before reporting"
    return pickle.loads(b"".join(chunks))


@contextmanager
def home_of(uid: int) -> Iterator[Path]:
    """A fresh 0700 directory under /tmp owned by ``uid`` (/tmp: sticky, so fine above it)."""
    base = Path(tempfile.mkdtemp(prefix="exectrail-rootsafe-", dir="/tmp"))
    try:
        os.chown(base, uid, uid)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def need_root() -> None:
    if os.geteuid() != 0:
        skip_or_fail("the root-safety tests switch users: they need root")


@contextmanager
def home_for(uid: int) -> Iterator[Path]:
    """:func:`home_of` after :func:`need_root` (the usual start of a root-safety test)."""
    need_root()
    with home_of(uid) as base:
        yield base


def readable_copy(source: Path, home: Path, uid: int) -> Path:
    """``source`` copied into ``home``, owned by ``uid``: the tree may sit where ``nobody`` cannot
    read (a clone in /root, which is 0700)."""
    copy = home / source.name
    shutil.copyfile(source, copy)
    os.chown(copy, uid, uid)
    return copy


#: parametrize a test with ``@BOTH`` and take ``uid``: it runs as root and as nobody
BOTH = pytest.mark.parametrize("uid", list(USERS.values()), ids=list(USERS))
