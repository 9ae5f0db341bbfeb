"""The ``kernel`` fixture (lock, snapshot, restore, check with auditctl) for every test here, and
SIGTERM/SIGHUP unwinding like Ctrl-C: both live in :mod:`tests.support.kernel`."""

from __future__ import annotations

from tests.support.kernel import kernel

__all__ = ["kernel"]
