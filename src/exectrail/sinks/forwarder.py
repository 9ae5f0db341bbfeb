"""Delivery of one sink: a bounded in-memory queue, the disk spool, a sender and a spiller thread.

The submitting thread (capture) only appends to memory: no network, no disk, no waiting beyond a
short lock. The sender thread delivers batches in sequence order (the lowest of memory and spool
first), so a receiver sees events in submission order even across outages; a failed batch stays
where it is and is retried with exponential backoff. The spiller thread moves batches to the spool
when memory passes its bound (newest first) and, while the receiver is failing, moves all of memory
there so an outage survives a crash of this process. When memory and spool are both full the
newest batch is dropped and counted (never silently). Nothing is removed before the sink reports
delivery (at-least-once).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exectrail.sinks.base import Message, Sink, SinkError
from exectrail.sinks.spool import Spool, SpoolEntry, SpoolFull, SpoolRejected, unlink
from exectrail.sinks.status import write_state
from exectrail.timefmt import now_iso

Warn = Callable[[str], None]


@dataclass
class Tuning:
    """Batching, memory and retry limits (the defaults suit a busy host and a LAN receiver)."""

    batch_events: int = 500
    batch_bytes: int = 1 << 20
    memory_bytes: int = 32 << 20
    linger: float = 0.2  # seconds a partial batch waits for more messages
    retry_initial: float = 0.2
    retry_max: float = 5.0
    state_interval: float = 1.0
    drop_warn_interval: float = 5.0


class Batch:
    __slots__ = ("delivered", "entry", "messages", "nbytes", "seq", "spilling")

    def __init__(
        self, seq: int, messages: list[Message], nbytes: int, entry: SpoolEntry | None = None
    ) -> None:
        self.seq, self.messages, self.nbytes, self.entry = seq, messages, nbytes, entry
        self.delivered = self.spilling = False


@dataclass(frozen=True)
class SinkSummary:
    """What happened to the messages given to one sink (``pending`` wait in the spool for a later run)."""

    sink: str
    accepted: int
    delivered: int
    pending: int
    dropped: int
    last_error: str | None
    spool: str


class Forwarder:
    """Feeds one :class:`Sink` from a memory queue and a :class:`Spool`."""

    def __init__(self, sink: Sink, spool: Spool, warn: Warn, tuning: Tuning | None = None) -> None:
        self.sink, self.spool, self.tuning, self._warn = sink, spool, tuning or Tuning(), warn
        self._cond = threading.Condition()
        self._open: list[Message] = []
        self._open_bytes = 0
        self._open_since = 0.0
        self._memory: list[Batch] = []  # in sequence order
        self._memory_bytes = 0
        self._inflight: Batch | None = None
        self._spool_full = False  # a whole batch did not fit: wait until the spool shrinks
        self._draining = self._stop = self._stop_spiller = self._closed = False
        self._notes: list[str] = []
        self.accepted = self.delivered = self.dropped = self.failures = 0
        self.rejected: list[str] = []  # spool files not written by this spool: never forwarded
        self.last_error: str | None = None
        self.last_error_time: str | None = None
        self.last_delivery_time: str | None = None
        self._failing_since: float | None = None
        self._drop_reason = ""
        self._drop_warned_at = -1e9
        self._dropped_at_warn = self._state_at = 0.0
        if spool.events:
            self._notes.append(f"sink {sink.name}: {spool.events} events left from an earlier run are "
                               f"sent first (spool {spool.directory})")  # fmt: skip
        for reason in spool.rejected:
            self._reject(reason)
        self._sender = threading.Thread(target=self._run, name=f"exectrail-send:{sink.name}", daemon=True)
        self._spiller = threading.Thread(
            target=self._spill_loop, name=f"exectrail-spill:{sink.name}", daemon=True
        )
        self._sender.start()
        self._spiller.start()
        self._emit()

    # -- submitting side: memory only ------------------------------------------------------
    def put(self, message: Message) -> None:
        """Queue one message; never touches the network or the disk."""
        with self._cond:
            self.accepted += 1
            if not self._open:
                self._open_since = time.monotonic()
            self._open.append(message)
            self._open_bytes += len(message.json)
            if len(self._open) >= self.tuning.batch_events or self._open_bytes >= self.tuning.batch_bytes:
                self._seal()

    def _seal(self) -> None:
        self._memory.append(Batch(self.spool.next_seq(), self._open, self._open_bytes))
        self._memory_bytes += self._open_bytes
        self._open, self._open_bytes = [], 0
        self._cond.notify_all()

    def _drop(self, count: int, reason: str) -> None:
        self.dropped += count
        self._drop_reason = reason
        now = time.monotonic()
        if now - self._drop_warned_at >= self.tuning.drop_warn_interval:
            self._drop_warned_at, self._dropped_at_warn = now, self.dropped
            self._notes.append(f"sink {self.sink.name}: {reason}: {self.dropped} events dropped so far")

    def _reject(self, reason: str) -> None:
        self.rejected.append(reason)
        self._notes.append(f"sink {self.sink.name}: spool file rejected: {reason}")

    def _emit(self) -> None:
        with self._cond:
            notes, self._notes = self._notes, []
        for note in notes:
            self._warn(note)

    # -- spiller ----------------------------------------------------------------------------
    def _spill_candidate(self) -> Batch | None:
        over = self._memory_bytes > self.tuning.memory_bytes
        if not over and (self._failing_since is None or self._spool_full):
            return None
        for batch in reversed(self._memory):  # newest first: the oldest is about to be sent
            if not batch.spilling and batch is not self._inflight:
                return batch
        return None

    def _spill_loop(self) -> None:
        while True:
            with self._cond:
                while (batch := self._spill_candidate()) is None:
                    if self._stop_spiller:
                        return
                    self._cond.wait(1.0)
                must_free = self._memory_bytes > self.tuning.memory_bytes
            self._spill(batch, must_free)
            self._emit()

    def _spill(self, batch: Batch, must_free: bool) -> None:
        """Write a memory batch to the spool. ``must_free``: memory is over its bound, so what the
        spool cannot take is dropped; otherwise a batch that does not fit whole stays in memory."""
        with self._cond:
            if batch.delivered or batch not in self._memory:
                return
            room = self.spool.max_bytes - self.spool.bytes
            if not must_free and batch.nbytes + len(batch.messages) > room:
                self._spool_full = True
                return
            batch.spilling = True
        entry: SpoolEntry | None = None
        error = ""
        try:
            entry = self.spool.write_file(batch.seq, batch.messages, room)
        except SpoolFull:
            pass
        except OSError as exc:
            error = f"cannot write spool {self.spool.directory}: {exc.strerror or exc}"
        with self._cond:
            batch.spilling = False
            if batch.delivered:  # the sender delivered it meanwhile
                garbage = entry
            else:
                garbage = None
                if entry is not None:
                    self.spool.add(entry)
                elif not must_free:
                    self._spool_full = True
                    if error and error != self.last_error:
                        self._notes.append(f"sink {self.sink.name}: {error}; the events stay in memory")
                    return
                self._memory.remove(batch)
                self._memory_bytes -= batch.nbytes
                lost = len(batch.messages) - (entry.count if entry else 0)
                if lost:
                    self._drop(lost, error or f"spool full (--spool-max {self.spool.max_bytes} bytes)")
        if garbage is not None:
            unlink(garbage)

    # -- sender -----------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.tuning.retry_initial
        while True:
            batch, done = self._take()
            if done:
                break
            if batch is None:
                self._publish_state()
                continue
            try:
                refused = self.sink.send(batch.messages)
            except Exception as exc:  # a SinkError, or a bug in a sink: keep the batch either way
                self._failed(str(exc) if isinstance(exc, SinkError) else f"internal error: {exc!r}")
                if not self._pause(delay):
                    break
                delay = min(delay * 2, self.tuning.retry_max)
                continue
            delay = self.tuning.retry_initial
            self._delivered(batch, refused)
        self._publish_state(force=True)

    def _take(self) -> tuple[Batch | None, bool]:
        """(next batch in sequence order, or None when idle; True when the sender should stop)."""
        with self._cond:
            while True:
                if self._stop:
                    return None, True
                head = self._memory[0] if self._memory else None
                entry = self.spool.oldest()
                if entry is not None and (head is None or entry.seq < head.seq):
                    break
                if head is not None:
                    self._inflight = head
                    return head, False
                if self._open and (
                    self._draining or time.monotonic() - self._open_since >= self.tuning.linger
                ):
                    self._seal()
                    continue
                if self._draining:
                    return None, True
                if not self._cond.wait(self.tuning.linger if self._open else self.tuning.state_interval):
                    return None, False
        try:
            messages, bad = self.spool.read(entry)  # only the sender removes spool entries: safe unlocked
        except SpoolRejected as exc:
            with self._cond:
                self.spool.forget(entry)
                self._reject(str(exc))
            self._emit()
            return None, False
        with self._cond:
            if bad:
                self._drop(bad, f"unreadable lines in spool file {entry.path}")
            if not messages:
                self.spool.forget(entry)
        if not messages:
            unlink(entry)
            return None, False
        batch = Batch(entry.seq, messages, entry.size, entry)
        self._inflight = batch
        return batch, False

    def _delivered(self, batch: Batch, refused: int) -> None:
        doomed: list[SpoolEntry] = []
        with self._cond:
            self._inflight = None
            if batch.entry is not None:
                if self.spool.forget(batch.entry):
                    doomed.append(batch.entry)
            else:
                batch.delivered = True
                if batch in self._memory:
                    self._memory.remove(batch)
                    self._memory_bytes -= batch.nbytes
                elif (entry := self.spool.find(batch.seq)) is not None:  # spilled while in flight
                    self.spool.forget(entry)
                    doomed.append(entry)
            if doomed:
                self._spool_full = False
            self.delivered += len(batch.messages) - refused
            if refused:
                self._drop(refused, getattr(self.sink, "refused_reason", "refused by the receiver"))
            self.last_delivery_time = now_iso()
            if self._failing_since is not None:
                down = time.monotonic() - self._failing_since
                self._notes.append(f"sink {self.sink.name}: delivering again after {down:.1f} s")
                self._failing_since = None
            self._cond.notify_all()
        for entry in doomed:
            try:
                unlink(entry)
            except OSError as exc:
                self._notes.append(f"sink {self.sink.name}: cannot remove {entry.path}: {exc.strerror}")
        self._publish_state()
        self._emit()

    def _failed(self, reason: str) -> None:
        with self._cond:
            self._inflight = None
            self.failures += 1
            if self._failing_since is None or reason != self.last_error:
                self._notes.append(f"sink {self.sink.name}: {reason}; retrying, events wait in the spool "
                                   f"({self.spool.directory})")  # fmt: skip
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            self.last_error, self.last_error_time = reason, now_iso()
            self._spool_full = False  # try the spool again
            self._cond.notify_all()  # the spiller moves memory to the spool
        self._publish_state()
        self._emit()

    def _pause(self, delay: float) -> bool:
        """Back off before a retry; False when told to stop."""
        with self._cond:
            self._cond.wait_for(lambda: self._stop, delay * random.uniform(0.8, 1.2))
            return not self._stop

    # -- closing and status -----------------------------------------------------------------
    def begin_close(self) -> None:
        """Seal the open batch and let the sender finish what is queued."""
        with self._cond:
            self._draining = True
            if self._open:
                self._seal()
            self._cond.notify_all()

    def finish_close(self, deadline: float, grace: float = 15.0) -> SinkSummary:
        """Deliver until ``deadline`` (monotonic), then spool whatever is left and stop."""
        self.begin_close()
        self._sender.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._sender.join(grace)
        with self._cond:
            self._stop_spiller = True
            self._cond.notify_all()
        self._spiller.join()
        for batch in list(self._memory):
            self._spill(batch, must_free=True)
        with self._cond:
            self._closed = True
            summary = SinkSummary(self.sink.name, self.accepted, self.delivered, self.spool.events,
                                  self.dropped, self.last_error, str(self.spool.directory))  # fmt: skip
            if self.dropped and self.dropped != self._dropped_at_warn:
                self._notes.append(
                    f"sink {self.sink.name}: {self._drop_reason}: {self.dropped} events dropped"
                )
        self._publish_state(force=True)
        self._emit()
        self.sink.close()
        self.spool.close()
        return summary

    def status(self) -> dict[str, Any]:
        with self._cond:
            return self._state()

    def _state(self) -> dict[str, Any]:
        queued = len(self._open) + sum(len(b.messages) for b in self._memory)
        return {
            "sink": self.sink.name, "pid": os.getpid(), "updated": now_iso(),
            "backlog": queued + self.spool.events, "memory_events": queued,
            "spool_events": self.spool.events, "spool_bytes": self.spool.bytes,
            "spool_max": self.spool.max_bytes,
            "accepted": self.accepted, "delivered": self.delivered, "dropped": self.dropped,
            "failures": self.failures, "failing": self._failing_since is not None,
            "spool_rejected": len(self.rejected), "spool_rejected_files": self.rejected[-10:],
            "last_error": self.last_error, "last_error_time": self.last_error_time,
            "last_delivery_time": self.last_delivery_time, "closed": self._closed,
        }  # fmt: skip

    def _publish_state(self, force: bool = False) -> None:
        with self._cond:
            now = time.monotonic()
            if not force and now - self._state_at < self.tuning.state_interval:
                return
            self._state_at = now
            state = self._state()
        write_state(self.spool.directory, state)


__all__ = ["Forwarder", "SinkSummary", "Tuning"]
