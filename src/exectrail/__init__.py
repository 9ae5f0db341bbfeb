"""exectrail: record every program executed on a Linux host through the kernel audit subsystem.

The library in three lines (the README's example; a test runs it)::

    import exectrail
    for event in exectrail.read_events(["/var/log/audit/audit.log"]):
        print(event.time, event.pid, event.exe, event.argv)

The public surface:

* :func:`read_events` ``(paths)``: the exec events of audit log files (plain or gzip, rotated sets,
  byte-exact), an iterator of :class:`ExecEvent`;
* :func:`scan_logs` ``(paths, ...)``: the one log-scan path behind ``review``, ``import``, ``alarms``
  and ``check-procs``: events and interference alarms in one pass, with hooks;
* :class:`ExecEvent`: one exec, each field of the JSON schema an attribute (``node_hex``,
  ``argv_hex``… included); ``to_dict()`` is exactly the object ``review --format jsonl`` prints and
  ``ExecEvent.from_dict`` reads it back;
* :class:`Alarm`: one sign of interference with the trail (``to_dict``/``from_dict`` likewise);
* :class:`EventStore`: the tamper-evident SQLite store (``with EventStore(path) as store``);
* the exceptions: every error exectrail reports is an :class:`ExectrailError` (a type and a one-line
  message; exit statuses belong to the command line): :class:`InputError`, :class:`UsageError` (a
  bad configuration file is one too), :class:`KernelAuditError`, :class:`StoreError`
  (:class:`StoreFullError`), :class:`SinkError`, :class:`UnsafePathError`.

Names load on first use, so ``import exectrail`` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from exectrail import hotpath
from exectrail.errors import ExectrailError, InputError, KernelAuditError, UsageError

if hotpath.pure_requested():
    hotpath.install_source_finder()

__version__ = "0.1.0"

#: public name -> the module that defines it (imported when the name is first used)
_LAZY = {
    "read_events": "exectrail.pipeline",
    "scan_logs": "exectrail.interference.detector",
    "ScanResult": "exectrail.pipeline",
    "ExecEvent": "exectrail.model",
    "Alarm": "exectrail.model",
    "EventStore": "exectrail.store",
    "StoreError": "exectrail.store.errors",
    "StoreFullError": "exectrail.store.errors",
    "SinkError": "exectrail.sinks.base",
    "UnsafePathError": "exectrail.safefs",
}

if TYPE_CHECKING:
    from exectrail.interference.detector import scan_logs
    from exectrail.model import Alarm, ExecEvent
    from exectrail.pipeline import ScanResult, read_events
    from exectrail.safefs import UnsafePathError
    from exectrail.sinks.base import SinkError
    from exectrail.store import EventStore
    from exectrail.store.errors import StoreError, StoreFullError


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'exectrail' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Alarm",
    "EventStore",
    "ExecEvent",
    "ExectrailError",
    "InputError",
    "KernelAuditError",
    "ScanResult",
    "SinkError",
    "StoreError",
    "StoreFullError",
    "UnsafePathError",
    "UsageError",
    "__version__",
    "read_events",
    "scan_logs",
]
