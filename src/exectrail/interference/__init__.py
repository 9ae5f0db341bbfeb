"""Interference with the audit trail: found after the fact in logs, live while capturing, and by
comparing the running processes with the trail.

* :class:`LogAudit` -- the alarm detector of the log-scan path (:mod:`exectrail.pipeline`:
  ``exectrail review``, ``import``, ``alarms``), and the scan with it
  (:func:`~exectrail.interference.detector.scan_logs`); :class:`TrailAuditor` is the record-level
  engine behind it, :mod:`~exectrail.interference.lines` the line checks.
* :class:`LiveMonitor` with :class:`StatusReading` -- the hook for ``exectrail watch``: record
  groups and kernel status readings in, alarms out.
* :func:`check_processes` -- ``exectrail check-procs``.
* :mod:`~exectrail.interference.kinds` -- the alarm kinds (alarms in the store and in forwarded
  messages: :mod:`exectrail.store.alarms`).
"""

from __future__ import annotations

from exectrail.interference import kinds
from exectrail.interference.detector import LogAudit
from exectrail.interference.live import LiveMonitor, Repair, StatusReading
from exectrail.interference.procs import ExecIndex, check_processes
from exectrail.interference.trail import Settings, TrailAuditor

__all__ = [
    "ExecIndex",
    "LiveMonitor",
    "LogAudit",
    "Repair",
    "Settings",
    "StatusReading",
    "TrailAuditor",
    "check_processes",
    "kinds",
]
