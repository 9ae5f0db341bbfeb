"""Where ``watch`` sends what it captures besides the screen: the store, the sinks, heartbeats.

:class:`WatchOutputs` receives every exec event (:meth:`~WatchOutputs.record`, whatever the display
filters say) and every alarm (:meth:`~WatchOutputs.alarm`): alarms are written through the command's
writer and on ``notify`` (stderr), queued for the store (:class:`~exectrail.capture.storefeed.StoreFeeder`)
and forwarded to every sink; events go to the store and the sinks. Nothing here waits: the store has
its own thread and the sinks their queues. :meth:`~WatchOutputs.idle` sends a heartbeat to every
sink each ``heartbeat`` seconds (and one when the capture starts and one when it stops), so a
receiver can tell a quiet host from a dead collector::

    {"type": "heartbeat", "id": "heartbeat:web1:4242:3", "host": "web1", "time": "…Z",
     "state": "running", "pid": 4242, "mode": "daemon", "interval": 60.0,
     "counters": {"records": …, "events": …, "shown": …, "lost": 0, "alarms": 0, "stored": …,
                  "uptime_s": …}}
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from exectrail.capture.storefeed import StoreFeeder
from exectrail.model import CERTAIN, Alarm, ExecEvent
from exectrail.output.writers import EventWriter
from exectrail.sinks import SinkRun
from exectrail.sinks.sinkset import stderr_warn
from exectrail.store.alarms import alarm_message_body
from exectrail.timefmt import iso

DEFAULT_HEARTBEAT = 60.0

Counters = Callable[[], dict[str, int]]


class WatchOutputs:
    """The store, the sinks and the heartbeat of one ``watch`` run (see the module docstring)."""

    def __init__(
        self,
        writer: EventWriter,
        store: StoreFeeder | None,
        sinks: SinkRun,
        heartbeat: float,
        notify: Callable[[str], None] = stderr_warn,
    ) -> None:
        self.writer = writer
        self.notify = notify
        self.store = store
        self.sinks = sinks
        self.heartbeat = heartbeat if sinks.sinks is not None else 0.0
        self.host = sinks.sinks.host if sinks.sinks is not None else socket.gethostname()
        self.alarms: list[Alarm] = []
        self.heartbeats = 0
        self.mode = ""
        self.counters: Counters = dict
        self._started = time.monotonic()
        self._next_beat = 0.0
        self._store_summary: str | None = None

    @property
    def record(self) -> Callable[[ExecEvent], None] | None:
        """The per-event hook for the watch loop (None when there is neither store nor sink)."""
        store, sinks = self.store, self.sinks.sinks
        if store is not None and sinks is not None:
            add, submit = store.add, sinks.submit

            def both(event: ExecEvent) -> None:
                add(event)
                submit(event)

            return both
        if store is not None:
            return store.add
        if sinks is not None:
            return sinks.submit
        return None

    def alarm(self, alarm: Alarm) -> None:
        """One alarm: ``notify``, the writer (table/jsonl/csv), the store, every sink."""
        self.alarms.append(alarm)
        label = "ALARM" if alarm.certainty == CERTAIN else "SUSPICIOUS"
        self.notify(f"{label} {alarm.kind}: {alarm.summary}")
        self.writer.write_alarm(alarm)
        if self.store is not None:
            self.store.add_alarm(alarm)
        self.sinks.submit_message(alarm_message_body(alarm, self.host))

    def start(self, mode: str, counters: Counters) -> None:
        """The capture runs: the first heartbeat."""
        self.mode, self.counters = mode, counters
        self._started = time.monotonic()
        self._beat("started")

    def idle(self) -> None:
        """Called by the watch loop at least twice a second: a heartbeat when one is due."""
        if self.heartbeat and time.monotonic() >= self._next_beat:
            self._beat("running")

    def stopped(self) -> None:
        """The capture ended cleanly: everything is stored, and the last heartbeat says so."""
        self.close_store()
        self._beat("stopped")

    def _beat(self, state: str) -> None:
        if not self.heartbeat:
            return
        now = time.monotonic()
        self._next_beat = now + self.heartbeat
        self.heartbeats += 1
        counters = {**self.counters(), "alarms": len(self.alarms), "uptime_s": int(now - self._started)}
        if self.store is not None:
            counters["stored"] = self.store.stored
        body: dict[str, Any] = {
            "type": "heartbeat",
            "id": f"heartbeat:{self.host}:{os.getpid()}:{self.heartbeats}",
            "host": self.host,
            "time": iso(datetime.now(UTC)),
            "state": state,
            "pid": os.getpid(),
            "mode": self.mode,
            "interval": self.heartbeat,
            "counters": counters,
        }
        self.sinks.submit_message(body)

    def close_store(self) -> str | None:
        """Store what is queued and close the store (once); its summary line (None without a store)."""
        if self.store is not None and self._store_summary is None:
            self.store.close()
            self._store_summary = self.store.summary()
        return self._store_summary

    @property
    def failed(self) -> bool:
        """Something captured did not reach the store or a sink."""
        store = self.store
        return self.sinks.failed or (store is not None and bool(store.failed or store.failed_alarms))


__all__ = ["DEFAULT_HEARTBEAT", "WatchOutputs"]
