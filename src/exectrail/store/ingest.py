"""Reading audit logs for the store (``exectrail import``): the log-scan path in a helper process.

Parsing and writing each take one CPU; on two cores they overlap. :class:`LogReader` runs the scan
(:class:`exectrail.pipeline.HelperScan`) in a forked helper that turns each event into
:func:`~exectrail.store.writer.prepare`'s picklable form (with the event itself when it is to be
forwarded as well: ``events``) and sends them in batches; its diagnostics, read statistics,
incomplete-event count and (with ``alarms``) alarms come last. Where ``fork`` is unavailable, or when
reading stdin, everything runs in this process instead, with the same results. The helpers die
with this process, even by SIGKILL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exectrail.model import ExecEvent
from exectrail.pipeline import AlarmChecks, HelperScan
from exectrail.store.writer import Prepared, prepare

Progress = Callable[[int], None]


def prepare_with_event(event: ExecEvent) -> tuple[Prepared, ExecEvent]:
    """:func:`prepare`, and the event (for the sinks)."""
    return prepare(event), event


class LogReader(HelperScan[Any]):
    """Prepared events of ``paths`` -- ``(prepared, event)`` pairs with ``events`` -- and the alarms
    ``alarms`` finds on the way (the standard checks: ``interference.detector.TrailChecks``); after
    the iteration: ``diagnostics``, ``stats``, ``incomplete``,
    :meth:`~exectrail.pipeline.HelperScan.alarms`."""

    def __init__(
        self,
        paths: list[str],
        progress: Progress | None = None,
        background: bool = True,
        *,
        alarms: AlarmChecks | None = None,
        events: bool = False,
        host_id: str | None = None,
    ) -> None:
        transform = prepare_with_event if events else prepare
        super().__init__(
            paths, transform, alarms=alarms, progress=progress, background=background, host_id=host_id
        )
