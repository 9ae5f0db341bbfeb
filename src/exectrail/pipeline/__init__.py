"""The log-scan path: audit log files → records → exec events, and a detector's alarms, in one pass.

Every command that reads logs takes this path -- ``review``, ``import``, ``alarms``,
``check-procs`` -- and live sources (netlink, the audisp plugin) take its records → events part,
:class:`EventBuilder`.

* :mod:`~exectrail.pipeline.events` -- records → exec events: :class:`EventBuilder`,
  :func:`exec_events`, :func:`read_exec_events`.
* :mod:`~exectrail.pipeline.logscan` -- :class:`LogScan`, the path itself: an iterator of the exec
  events of log files that shows every file, record and event to an alarm detector (a
  :class:`Detector`) on the way; :meth:`LogScan.run` reads it all into a :class:`ScanResult`,
  handing out events and alarms as they come. :func:`read_events` -- the exec events of log
  files, nothing else: the simple library entry.
* :mod:`~exectrail.pipeline.helper` -- :class:`HelperScan`, the same scan in a helper process for a
  command that does heavy work of its own with each event (``import`` writes the store); its
  alarms come from an :class:`AlarmChecks`.

The path knows no alarm check: the callers above it pass them in. The standard detector,
:class:`exectrail.interference.detector.LogAudit` (the record checks of
:mod:`~exectrail.interference.trail` and the line checks of :mod:`~exectrail.interference.lines`),
is made by :func:`exectrail.interference.detector.alarm_detector`; :class:`TrailChecks
<exectrail.interference.detector.TrailChecks>` makes it for a :class:`HelperScan`; and
:func:`exectrail.interference.detector.scan_logs` (``exectrail.scan_logs``) is the scan with it.
"""

from __future__ import annotations

from exectrail.pipeline.events import EventBuilder, exec_events, read_exec_events
from exectrail.pipeline.helper import (
    AlarmChecks,
    HelperScan,
    LineChecks,
    can_read_twice,
    fork_helper,
    helper_started,
)
from exectrail.pipeline.logscan import Detector, LogScan, ScanResult, read_events

__all__ = [
    "AlarmChecks",
    "Detector",
    "EventBuilder",
    "HelperScan",
    "LineChecks",
    "LogScan",
    "ScanResult",
    "can_read_twice",
    "exec_events",
    "fork_helper",
    "helper_started",
    "read_events",
    "read_exec_events",
]
