"""A thread that drains a record socket as fast as the kernel fills it.

Decoding and output happen elsewhere (the consumer calls :meth:`RecordReader.take`); this thread
only moves datagrams from the socket into memory, so a slow terminal or a burst of execs costs
memory rather than kernel backlog (daemon mode) or dropped multicast datagrams.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from exectrail.kernel.netlink.client import AuditClient, NetlinkAuditError

_POLL_SECONDS = 0.1
#: after a batch, let the next one gather in the socket buffer: one wake-up per batch instead of
#: one per record (the buffer is tens of MB; the delay bounds the added latency)
_BATCH_DELAY = 0.005


class RecordReader(threading.Thread):
    """Reads raw record datagrams from ``client`` until :meth:`stop`; counts overruns."""

    def __init__(self, client: AuditClient) -> None:
        super().__init__(name="exectrail-netlink-reader", daemon=True)
        self._client = client
        self._queue: deque[bytes] = deque()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self.datagrams = 0
        self.error: NetlinkAuditError | None = None

    @property
    def overruns(self) -> int:
        """ENOBUFS seen: the socket buffer overflowed and records were dropped."""
        return self._client.overruns

    def run(self) -> None:
        receive = self._client.receive_batch
        extend = self._queue.extend
        ready, stopping, sleep = self._ready, self._stopping, time.sleep
        while not stopping.is_set():
            try:
                batch = receive(_POLL_SECONDS)
            except NetlinkAuditError as exc:
                self.error = exc
                ready.set()
                return
            if batch:
                extend(batch)
                self.datagrams += len(batch)
                ready.set()
                sleep(_BATCH_DELAY)

    def take(self, timeout: float) -> list[bytes]:
        """Everything read so far (waiting up to ``timeout`` seconds for the first datagram)."""
        if not self._queue:
            self._ready.wait(timeout)
        self._ready.clear()
        queue = self._queue
        out = []
        while queue:
            out.append(queue.popleft())
        return out

    @property
    def pending(self) -> int:
        return len(self._queue)

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=2)
