"""Live events and alarms into the store without ever making the capture wait on SQLite.

:class:`StoreFeeder` owns the store's writer in a thread of its own: the capture loop only appends
to a queue (:meth:`add`, :meth:`add_alarm`); the thread commits what is queued about every
``interval`` seconds (alarms at once), so a store locked by a concurrent ``import`` or a slow disk
delays storing, never capturing. A batch the store refuses (disk full, corrupt file) is counted in
``failed`` and reported through ``notify``; the next batches are tried again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from exectrail.model import Alarm, ExecEvent
from exectrail.store import EventStore, StoreError
from exectrail.store.alarms import store_alarms

FLUSH_SECONDS = 1.0
NO_AUTO_FLUSH = 1 << 30  # the writer commits when the feeder says so, not by itself


class StoreFeeder:
    """Writes queued events (batched) and alarms into the store at ``path`` from a thread."""

    def __init__(
        self,
        path: str | Path | None,
        notify: Callable[[str], None],
        interval: float = FLUSH_SECONDS,
    ) -> None:
        self.store = EventStore(path)  # opened here: a store that cannot be used stops watch at once
        self.path = self.store.path
        self.writer = self.store.writer(batch_size=NO_AUTO_FLUSH)
        self.notify = notify
        self.interval = interval
        self.failed = 0  # events that could not be stored
        self.failed_alarms = 0
        self.alarms = 0  # alarms stored (new)
        self._events: deque[ExecEvent] = deque()
        self._alarms: deque[Alarm] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="exectrail-store", daemon=True)
        self._thread.start()

    @property
    def stored(self) -> int:
        return self.writer.stats.stored

    @property
    def duplicate(self) -> int:
        return self.writer.stats.duplicate

    def add(self, event: ExecEvent) -> None:
        """Queue one event (never blocks)."""
        self._events.append(event)

    def add_alarm(self, alarm: Alarm) -> None:
        """Queue one alarm; it is stored at once."""
        self._alarms.append(alarm)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stop
            try:
                self._drain()
            except Exception as exc:  # a bug here must not end live storing silently
                self._failure(StoreError(f"internal error: {type(exc).__name__}: {exc}"))
            if stopping:
                return

    def _drain(self) -> None:
        events, alarms = self._events, self._alarms
        add = self.writer.add
        try:
            while events:
                add(events.popleft())
        except StoreError as exc:  # a duplicate probe failed: keep the rest for the next round
            self.failed += 1
            self._failure(exc)
        pending = self.writer.stats.pending
        try:
            self.writer.flush()
        except StoreError as exc:
            self.failed += pending
            self._failure(exc, pending)
        taken = [alarms.popleft() for _ in range(len(alarms))]
        if taken:
            try:
                self.alarms += store_alarms(self.store, taken)
            except StoreError as exc:
                self.failed_alarms += len(taken)
                self._failure(exc)

    def _failure(self, exc: StoreError, lost: int = 0) -> None:
        text = str(exc)
        if text != self._last_error:
            self._last_error = text
            what = f": {lost} events not stored" if lost else ""
            self.notify(f"store {self.path}: {text}{what} (capture goes on)")

    def close(self) -> None:
        """Store what is still queued, stop the thread, close the store."""
        self._stop = True
        self._wake.set()
        self._thread.join()
        try:
            self.writer.close()
        except StoreError as exc:
            self._failure(exc)
        finally:
            self.store.close()

    def summary(self) -> str:
        text = f"store {self.path}: {self.stored} events stored"
        if self.duplicate:
            text += f" ({self.duplicate} already there)"
        text += f", {self.alarms} alarm{'s' if self.alarms != 1 else ''}"
        if self.failed or self.failed_alarms:
            text += f"; NOT STORED: {self.failed} events, {self.failed_alarms} alarms"
        return text


__all__ = ["FLUSH_SECONDS", "StoreFeeder"]
