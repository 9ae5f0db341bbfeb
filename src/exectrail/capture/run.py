"""One ``watch`` run: the capture set up, the loop run until it stops, the kernel put back, the
outputs closed, and how it ended (:class:`Watched`: its summary lines, and what went wrong).

SIGINT/SIGTERM ask the loop for a clean stop; in plugin mode SIGHUP re-opens the output file
(:class:`ReopenableFile`, for log rotation). Notices (what was set up, repaired, restored) go to a
``notify`` callback: the caller prints them; nothing here writes to stderr or decides an exit status.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any

from exectrail.capture.livecontext import LiveContextStage
from exectrail.capture.outputs import WatchOutputs
from exectrail.capture.session import Capture, live_capture
from exectrail.capture.watch import Limits, Totals, Watch
from exectrail.enrich.context import ContextBuilder
from exectrail.filters import EventFilter
from exectrail.interference import kinds
from exectrail.kernel.rules.procmon import ProcmonSpec
from exectrail.model import Diagnostics
from exectrail.pipeline import EventBuilder
from exectrail.safefs import open_append

Notify = Callable[[str], None]


class ReopenableFile(io.RawIOBase):
    """An append-only file that :meth:`reopen` re-opens by name (log rotation on SIGHUP)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._file: IO[bytes] = open_append(path)  # 0600, no symbolic link, checked directory

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def reopen(self) -> None:
        self._file.close()
        self._file = open_append(self.path)

    def close(self) -> None:
        if not self.closed:
            try:
                super().close()  # flushes first
            finally:
                self._file.close()


@contextmanager
def stop_on_signals(
    mode: str, stop: threading.Event, reopen: threading.Event, stopped_by: list[str] | None = None
) -> Iterator[None]:
    """SIGINT/SIGTERM (and SIGHUP outside plugin mode) ask for a clean stop (their names go to
    ``stopped_by``); in plugin mode SIGHUP (auditd's "reconfigure") re-opens the output file instead."""

    def ask_stop(signum: int, frame: FrameType | None) -> None:
        if stopped_by is not None:
            stopped_by.append(signal.Signals(signum).name)
        stop.set()

    def ask_reopen(signum: int, frame: FrameType | None) -> None:
        reopen.set()

    wanted = {signal.SIGINT: ask_stop, signal.SIGTERM: ask_stop}
    wanted[signal.SIGHUP] = ask_reopen if mode == "plugin" else ask_stop
    saved = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class Run:
    """What to capture and how (from the command line)."""

    mode: str
    spec: ProcmonSpec
    event_filter: EventFilter
    limits: Limits
    backlog: int | None
    install_rules: bool
    repair: bool
    env_vars: tuple[str, ...] = ("LD_PRELOAD", "LD_LIBRARY_PATH")


@dataclass(frozen=True)
class Watched:
    """How a watch ended: what the capture saw and did, and the store's summary (None without one)."""

    capture: Capture
    totals: Totals
    diagnostics: Diagnostics
    outputs: WatchOutputs
    stored: str | None

    def summary(self) -> str:
        capture, totals = self.capture, self.totals
        source, monitor = capture.source, capture.monitor
        lost = (
            f"{monitor.lost} events lost by the kernel"
            if monitor.client is not None
            else "kernel lost counter unread"
        )
        line = (
            f"watch stopped ({totals.reason}) after {totals.seconds:.1f}s in {capture.mode} mode: "
            f"{totals.shown} events shown, {totals.events} exec events, {source.records} records; {lost}"
        )
        if source.overruns:
            line += f"; {source.overruns} socket overruns (records dropped, number unknown)"
        alarms = len(self.outputs.alarms)
        line += f"; {alarms} alarm{'s' if alarms != 1 else ''}"
        if monitor.repairs:
            line += f", {monitor.repairs} repair{'s' if monitor.repairs != 1 else ''}"
        return line + f"; diagnostics: {self.diagnostics.summary()}"

    def report(self) -> list[str]:
        """The summary, the store's line and what was put back in the kernel, one line each."""
        lines = [self.summary()]
        if self.totals.context:
            lines.append(self.totals.context)
        if self.stored is not None:
            lines.append(self.stored)
        if self.capture.notes:
            lines.append("restored: " + "; ".join(self.capture.notes))
        return lines

    @property
    def error(self) -> str | None:
        """Why the capture failed (its source broke), or None."""
        reason = self.totals.reason
        return reason[len("error: ") :] if reason.startswith("error") else None

    @property
    def incomplete(self) -> bool:
        """Events were lost (by the kernel or the socket), or did not reach the store or a sink."""
        lost = any(a.kind == kinds.EVENTS_LOST for a in self.outputs.alarms)
        return lost or bool(self.capture.source.overruns) or self.outputs.failed


def run_watch(run: Run, outputs: WatchOutputs, stream: ReopenableFile | None, notify: Notify) -> Watched:
    """Capture until told to stop, then close the writer, the output file and the store."""
    try:
        capture, totals, diagnostics = _capture(run, outputs, stream, notify)
    finally:
        outputs.writer.close()
        if stream is not None:
            stream.close()
        stored = outputs.close_store()
    return Watched(capture, totals, diagnostics, outputs, stored)


def _capture(
    run: Run, outputs: WatchOutputs, stream: ReopenableFile | None, notify: Notify
) -> tuple[Capture, Totals, Diagnostics]:
    """Set up the capture, run the loop until it stops, put the kernel back; then the sinks drain."""
    stop, reopen = threading.Event(), threading.Event()
    stopped_by: list[str] = []
    diagnostics = Diagnostics()

    def notice(kind: str, message: str) -> None:
        notify(message)

    def on_idle() -> None:
        outputs.idle()
        if stream is None:
            sys.stdout.flush()  # csv and table write through to stdout's buffer
            return
        stream.flush()
        if reopen.is_set():
            reopen.clear()
            stream.reopen()

    with (
        outputs.sinks,
        stop_on_signals(run.mode, stop, reopen, stopped_by),
        live_capture(
            run.mode,
            run.spec,
            diagnostics,
            notify=notice,
            alarm=outputs.alarm,
            backlog=run.backlog,
            install_rules=run.install_rules,
            repair_rules=run.repair,
        ) as capture,
    ):
        for note in capture.notes:
            notify(note)
        capture.notes.clear()
        notify(f"watching in {capture.mode} mode (Ctrl-C to stop)")
        context = ContextBuilder(live=True)
        builder = EventBuilder(diagnostics, on_group=capture.monitor.group, context=context)
        stage = LiveContextStage(context, run.env_vars)
        loop = Watch(
            capture, builder, run.event_filter, outputs.writer, run.limits, stop, on_idle, outputs.record,
            stage,
        )  # fmt: skip

        def counters() -> dict[str, int]:
            t = loop.totals
            lost = capture.monitor.lost
            return {"records": capture.source.records, "events": t.events, "shown": t.shown, "lost": lost}

        outputs.start(capture.mode, counters)
        try:
            totals = loop.run()
        finally:
            stage.close()
        if totals.reason == "signal" and stopped_by:
            totals.reason = stopped_by[0]  # "watch stopped (SIGTERM)"
        outputs.stopped()
    return capture, totals, diagnostics


__all__ = ["ReopenableFile", "Run", "Watched", "run_watch", "stop_on_signals"]
