"""All the sinks of one command run, behind one object the capture loop feeds."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from exectrail import safefs
from exectrail.errors import UsageError
from exectrail.model import ExecEvent
from exectrail.sinks.base import Message, SinkError, event_message
from exectrail.sinks.forwarder import Forwarder, SinkSummary, Tuning, Warn
from exectrail.sinks.registry import open_sink, parse_sink_url
from exectrail.sinks.spool import Spool

DEFAULT_SPOOL_DIR = "/var/lib/exectrail/spool"
DEFAULT_SPOOL_MAX = 1 << 30


def stderr_warn(text: str) -> None:
    print(f"exectrail: {text}", file=sys.stderr, flush=True)


class SinkSet:
    """Forwarders for a list of sink URLs; ``submit`` never blocks on the network."""

    def __init__(self, forwarders: list[Forwarder], host: str) -> None:
        self.forwarders = forwarders
        self.host = host

    @classmethod
    def from_urls(
        cls,
        urls: Iterable[str],
        spool_dir: str | Path = DEFAULT_SPOOL_DIR,
        spool_max: int = DEFAULT_SPOOL_MAX,
        host: str | None = None,
        warn: Warn = stderr_warn,
        tuning: Tuning | None = None,
    ) -> SinkSet:
        """Parse and open every sink (a bad URL or unusable spool raises a one-line error)."""
        specs = [parse_sink_url(url) for url in urls]
        seen: set[str] = set()
        for spec in specs:
            if spec.identity in seen:
                raise UsageError(f"--sink {spec.display}: the same receiver is given twice")
            seen.add(spec.identity)
        root = Path(spool_dir)
        try:
            safefs.secure_dir(root)  # made 0700; refused when others could plant files in it
        except OSError as exc:
            raise SinkError(
                f"cannot use spool directory {root}: {exc.strerror} (choose one with --spool)"
            ) from None
        forwarders: list[Forwarder] = []
        try:
            for spec in specs:
                sink = open_sink(spec)
                if getattr(sink, "lossy", False):
                    warn(f"sink {spec.display}: UDP can lose events without notice (no acknowledgement, "
                         "64 KB limit); prefer syslog+tcp or syslog+tls")  # fmt: skip
                spool = Spool(root / spec.slug, spool_max)
                hints = getattr(sink, "tuning_hints", {})
                forwarders.append(Forwarder(sink, spool, warn, replace(tuning or Tuning(), **hints)))
        except BaseException:
            for forwarder in forwarders:
                forwarder.finish_close(time.monotonic(), grace=1.0)
            raise
        return cls(forwarders, host or socket.gethostname())

    def submit(self, event: ExecEvent) -> None:
        """Forward one exec event to every sink."""
        message = event_message(event, self.host)
        for forwarder in self.forwarders:
            forwarder.put(message)

    def submit_message(self, body: dict[str, Any]) -> None:
        """Forward any JSON-able object with a string ``id`` and a ``type`` (alarm, heartbeat…);
        ``host`` is filled in when missing or None."""
        if body.get("host") is None:
            body["host"] = self.host
        message = Message(body)
        for forwarder in self.forwarders:
            forwarder.put(message)

    def close(self, timeout: float = 10.0) -> list[SinkSummary]:
        """Deliver what is queued for up to ``timeout`` seconds, spool the rest, stop the workers."""
        for forwarder in self.forwarders:
            forwarder.begin_close()
        deadline = time.monotonic() + timeout
        return [forwarder.finish_close(deadline) for forwarder in self.forwarders]

    def status(self) -> list[dict[str, Any]]:
        """Live state of every sink (the same fields as :func:`read_sink_status`)."""
        return [forwarder.status() for forwarder in self.forwarders]


class SinkRun:
    """The sinks of one command run (a no-op without sinks), as a context: on leaving it the sinks
    get ``wait`` seconds to deliver (none after an exception), the rest stays in the spool, and one
    summary line per sink goes to ``warn``."""

    def __init__(self, sinks: SinkSet | None, wait: float, warn: Warn = stderr_warn) -> None:
        self.sinks = sinks
        self.wait = wait
        self.warn = warn
        self.summaries: list[SinkSummary] = []

    def submit(self, event: ExecEvent) -> None:
        if self.sinks is not None:
            self.sinks.submit(event)

    def submit_message(self, body: dict[str, Any]) -> None:
        """Forward an alarm, heartbeat… (see :meth:`SinkSet.submit_message`)."""
        if self.sinks is not None:
            self.sinks.submit_message(body)

    @property
    def failed(self) -> bool:
        """True when some event was dropped or is still waiting in a spool."""
        return any(s.dropped or s.pending for s in self.summaries)

    def __enter__(self) -> SinkRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.sinks is None:
            return
        sinks, self.sinks = self.sinks, None
        self.summaries = sinks.close(self.wait if exc_type is None else 0.0)
        for summary in self.summaries:
            self.warn(summary_line(summary))


def summary_line(summary: SinkSummary) -> str:
    """``sink URL: 229 delivered, 0 waiting in the spool, 0 dropped`` plus the last error if any."""
    text = f"sink {summary.sink}: {summary.delivered} delivered"
    if summary.pending:
        text += f", {summary.pending} waiting in the spool {summary.spool} (sent by the next run)"
    if summary.dropped:
        text += f", {summary.dropped} DROPPED"
    if summary.last_error and (summary.pending or summary.dropped):
        text += f"; last error: {summary.last_error}"
    return text


__all__ = ["DEFAULT_SPOOL_DIR", "DEFAULT_SPOOL_MAX", "SinkRun", "SinkSet", "stderr_warn", "summary_line"]
