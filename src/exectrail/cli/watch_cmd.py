"""``exectrail watch``: live exec events from the kernel (or auditd's plugin stream)."""

from __future__ import annotations

import io
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from exectrail.capture.session import MODES, Capture, live_capture
from exectrail.capture.watch import Limits, Totals, Watch
from exectrail.cli.common import build_filter, echo_err, filter_options, format_option, resolve_format
from exectrail.cli.kernel_common import build_spec, reports_errors, spec_options
from exectrail.errors import KernelAuditError, UsageError
from exectrail.model import Alarm, Diagnostics
from exectrail.output.writers import make_writer
from exectrail.pipeline import EventBuilder

PLUGIN_OUTPUT = "/var/log/exectrail/exec.jsonl"
EXIT_LOST = 1  # the capture ran but the kernel (or the socket) dropped events


class ReopenableFile(io.RawIOBase):
    """An append-only file that :meth:`reopen` re-opens by name (log rotation on SIGHUP)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def reopen(self) -> None:
        self._file.close()
        self._file = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        if not self.closed:
            try:
                super().close()  # flushes first
            finally:
                self._file.close()


@contextmanager
def stop_on_signals(mode: str, stop: threading.Event, reopen: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM (and SIGHUP outside plugin mode) ask for a clean stop; in plugin mode SIGHUP
    (auditd's "reconfigure") re-opens the output file instead."""

    def ask_stop(signum: int, frame: FrameType | None) -> None:
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


def summary(capture: Capture, totals: Totals, diagnostics: Diagnostics) -> str:
    source, monitor = capture.source, capture.monitor
    lost = (
        f"{monitor.lost} events lost by the kernel"
        if monitor.client is not None
        else "kernel lost counter unread"
    )
    line = (
        f"exectrail: watch stopped ({totals.reason}) after {totals.seconds:.1f}s in {capture.mode} mode: "
        f"{totals.shown} events shown, {totals.events} exec events, {source.records} records; {lost}"
    )
    if source.overruns:
        line += f"; {source.overruns} socket overruns (records dropped, number unknown)"
    return line + f"; diagnostics: {diagnostics.summary()}"


@click.command("watch")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="daemon: be the audit daemon; multicast: listen beside auditd; plugin: read auditd's "
    "plugin stream on stdin; auto: multicast if an audit daemon runs, else daemon.",
)
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events shown.")
@click.option(
    "--backlog",
    type=click.IntRange(min=1),
    default=None,
    help="Kernel backlog limit to raise to [default: 8192 in daemon mode; unchanged otherwise].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Append events to this file (jsonl or csv) [plugin mode: {PLUGIN_OUTPUT}].",
)
@click.option("--no-rules", is_flag=True, help="Do not install the procmon rules when they are absent.")
@spec_options("--rule-key")
@filter_options
@format_option
@reports_errors
def watch(
    mode: str,
    duration: float | None,
    count: int | None,
    backlog: int | None,
    output: str | None,
    no_rules: bool,
    key: str,
    no_execveat: bool,
    fields: tuple[str, ...],
    exclude_exes: tuple[str, ...],
    fmt: str | None,
    **params: Any,
) -> None:
    """Show exec events live until Ctrl-C/SIGTERM, --duration or --count.

    Installs the procmon rules if absent, and on exit puts back everything it changed (rules,
    enabled, backlog, audit daemon registration). Events the kernel drops are reported at once
    and in the summary; the exit status is then 1.
    """
    event_filter = build_filter(params)
    spec = build_spec(key, no_execveat, fields, exclude_exes)
    if mode == "plugin" and output is None:
        output = PLUGIN_OUTPUT
    fmt = fmt or ("jsonl" if output else resolve_format(None))
    if output and fmt == "table":
        raise UsageError("--output writes jsonl or csv, not table")
    stop, reopen = threading.Event(), threading.Event()
    stream = ReopenableFile(output) if output else None
    writer = make_writer(fmt, stream)  # type: ignore[arg-type]
    diagnostics = Diagnostics()
    lost_or_dropped = False

    def notify(kind: str, message: str) -> None:
        echo_err(f"exectrail: {message}")

    def alarm(event: Alarm) -> None:
        nonlocal lost_or_dropped
        lost_or_dropped |= event.kind == "events-lost"
        echo_err(f"exectrail: ALARM {event.kind}: {event.summary}")
        writer.write_alarm(event)

    def on_idle() -> None:
        if stream is None:
            sys.stdout.flush()  # csv and table write through to stdout's buffer
            return
        stream.flush()
        if reopen.is_set():
            reopen.clear()
            stream.reopen()

    try:
        with (
            stop_on_signals(mode, stop, reopen),
            live_capture(
                mode,
                spec,
                diagnostics,
                notify=notify,
                alarm=alarm,
                backlog=backlog,
                install_rules=not no_rules,
            ) as capture,
        ):
            for note in capture.notes:
                echo_err(f"exectrail: {note}")
            capture.notes.clear()
            echo_err(f"exectrail: watching in {capture.mode} mode (Ctrl-C to stop)")
            limits = Limits(count, duration)
            totals = Watch(
                capture, EventBuilder(diagnostics), event_filter, writer, limits, stop, on_idle
            ).run()
    finally:
        writer.close()
        if stream is not None:
            stream.close()
    echo_err(summary(capture, totals, diagnostics))
    if capture.notes:
        echo_err("exectrail: restored: " + "; ".join(capture.notes))
    if totals.reason.startswith("error"):
        raise KernelAuditError(f"capture failed: {totals.reason[len('error: ') :]}")
    if lost_or_dropped or capture.source.overruns:
        raise click.exceptions.Exit(EXIT_LOST)


def register(group: click.Group) -> None:
    group.add_command(watch)
