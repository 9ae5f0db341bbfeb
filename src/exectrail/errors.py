"""One exception tree: everything exectrail raises on purpose derives from :class:`ExectrailError`.

The meaning is in the type; an error carries only its one-line message (``str(exc)``). How an error
reaches a user (``exectrail: <message>`` on stderr and an exit status) is the command line's business:
``exectrail.cli.common`` maps a type to its exit status, so library code never deals in exit codes.

The tree (the subclasses live beside the code that raises them)::

    ExectrailError                      base: anything exectrail reports to a user
    ├── InputError                      a file or stream that cannot be read at all
    ├── UsageError                      an option or setting that makes no sense
    │   └── ConfigError                 exectrail.config.loader: the configuration file cannot be used
    ├── KernelAuditError                the kernel audit subsystem refused or is unavailable
    │   └── NetlinkAuditError           exectrail.kernel.netlink.client: a refusal, with its ``errno``
    │       └── ReceiveOverrun          ENOBUFS on receive: records were dropped
    ├── StoreError                      exectrail.store.errors: the store cannot be opened, read or written
    │   └── StoreFullError              the disk (or the database's size limit) is full
    ├── SinkError                       exectrail.sinks.base: a sink cannot be used or a delivery failed
    └── UnsafePathError                 exectrail.safefs: a path to write is not safe (owner, mode, link)

Anything else that escapes a command is a bug (the command line reports it as an internal error).
"""

from __future__ import annotations


class ExectrailError(Exception):
    """Base of every error exectrail reports to a user; ``str(exc)`` is its one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ExectrailError):
    """A file or stream that cannot be read at all (missing, unreadable, not what it should be)."""


class UsageError(ExectrailError):
    """An option value that makes no sense (a bad time, an unknown format)."""


class KernelAuditError(ExectrailError):
    """The kernel audit subsystem refused or is unavailable."""


__all__ = ["ExectrailError", "InputError", "KernelAuditError", "UsageError"]
