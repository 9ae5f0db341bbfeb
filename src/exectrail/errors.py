"""One exception tree. Anything derived from :class:`ExectrailError` reaches the user as one line
(``exectrail: <message>``) with ``exit_code``; nothing else should escape a command."""

from __future__ import annotations


class ExectrailError(Exception):
    """Base of every error exectrail reports to a user."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class InputError(ExectrailError):
    """A file or stream that cannot be read at all (missing, unreadable, not what it should be)."""


class UsageError(ExectrailError):
    """An option value that makes no sense (a bad time, an unknown format)."""


class KernelAuditError(ExectrailError):
    """The kernel audit subsystem refused or is unavailable."""
