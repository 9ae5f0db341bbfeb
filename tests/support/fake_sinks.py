"""In-memory sinks for the delivery machinery's tests: one that records (and fails on demand), one
that hangs; messages to send and a forwarder run to completion."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from exectrail.sinks import Message, SinkError, Tuning
from exectrail.sinks.forwarder import Forwarder
from exectrail.sinks.spool import Spool

FAST = Tuning(batch_events=10, retry_initial=0.01, retry_max=0.05, linger=0.01, state_interval=0.0)


class FakeSink:
    """Records delivered ids; fails while ``down`` is set."""

    lossy = False

    def __init__(self) -> None:
        self.name = "fake://receiver"
        self.down: str | None = None
        self.received: list[str] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def send(self, batch: Sequence[Message]) -> int:
        with self.lock:
            self.attempts += 1
            if self.down:
                raise SinkError(self.down)
            self.received.extend(m.id for m in batch)
        return 0

    def close(self) -> None:
        pass


def messages(n: int, start: int = 0, pad: int = 0) -> list[Message]:
    return [Message({"type": "test", "id": f"m{i:06d}", "pad": "x" * pad}) for i in range(start, start + n)]


def run(sink: FakeSink, spool_dir: Path, msgs: list[Message], tuning: Tuning = FAST, wait: float = 5.0,
        max_bytes: int = 1 << 30) -> tuple[Forwarder, list[str]]:  # fmt: skip
    warnings: list[str] = []
    forwarder = Forwarder(sink, Spool(spool_dir, max_bytes), warnings.append, tuning)
    for m in msgs:
        forwarder.put(m)
    forwarder.finish_close(time.monotonic() + wait)
    return forwarder, warnings


class HungSink(FakeSink):
    """A receiver that stops answering: ``send`` blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def send(self, batch: Sequence[Message]) -> int:
        self.release.wait()
        return super().send(batch)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
