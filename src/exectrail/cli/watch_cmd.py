"""``exectrail watch``: live exec events from the kernel (or auditd's plugin stream).

Events are shown (filters apply), stored (``--db``, on by default; every event) and forwarded
(``--sink``; every event); interference with the audit trail is reported as alarms on all of them
(see :mod:`exectrail.capture.monitor`), ``--repair`` puts the rules back and re-enables audit, and
``--heartbeat`` tells the sinks the collector is alive.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from exectrail.capture.session import MODES, Capture, live_capture
from exectrail.capture.storefeed import StoreFeeder
from exectrail.capture.watch import Limits, Totals, Watch
from exectrail.cli.common import (
    MAX_ID,
    Seconds,
    build_filter,
    count_type,
    echo_err,
    filter_options,
    format_option,
    resolve_format,
)
from exectrail.cli.config_cmd import config_option
from exectrail.cli.kernel_common import build_spec, reports_errors, spec_options
from exectrail.cli.sink_options import check_sink_options, open_sinks, sink_options
from exectrail.cli.store_cmds import db_option
from exectrail.cli.watch_outputs import DEFAULT_HEARTBEAT, WatchOutputs
from exectrail.errors import KernelAuditError, UsageError
from exectrail.filters import EventFilter
from exectrail.interference import kinds
from exectrail.kernel.rules.procmon import ProcmonSpec
from exectrail.model import Diagnostics
from exectrail.output.writers import EventWriter, make_writer
from exectrail.pipeline import EventBuilder
from exectrail.safefs import open_append

PLUGIN_OUTPUT = "/var/log/exectrail/exec.jsonl"
COMMANDLINE = click.core.ParameterSource.COMMANDLINE
EXIT_LOST = 1  # the capture ran but the kernel (or the socket) dropped events, or storing failed


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


def summary(capture: Capture, totals: Totals, diagnostics: Diagnostics, outputs: WatchOutputs) -> str:
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
    alarms = len(outputs.alarms)
    line += f"; {alarms} alarm{'s' if alarms != 1 else ''}"
    if monitor.repairs:
        line += f", {monitor.repairs} repair{'s' if monitor.repairs != 1 else ''}"
    return line + f"; diagnostics: {diagnostics.summary()}"


class HiddenWriter:
    """``--no-show`` without ``--output``: events and alarms are not written (stderr, the store
    and the sinks still get the alarms)."""

    def write(self, event: object) -> None:
        pass

    def write_alarm(self, alarm: object) -> None:
        pass

    def close(self) -> None:
        pass


def open_store(db: Path | None, no_store: bool) -> StoreFeeder | None:
    """The store watch writes to (None with ``--no-store``, which overrides ``EXECTRAIL_DB``).

    ``--db`` on the command line beats ``store.enabled = false`` in the configuration file.
    """
    if no_store:
        ctx = click.get_current_context()
        typed = {n for n in ("db", "no_store") if ctx.get_parameter_source(n) == COMMANDLINE}
        if db is not None and typed == {"db", "no_store"}:
            raise UsageError("--db and --no-store contradict each other")
        if typed != {"db"}:
            return None
    return StoreFeeder(db, lambda text: echo_err(f"exectrail: {text}"))


@click.command("watch")
@config_option
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="daemon: be the audit daemon; multicast: listen beside auditd; plugin: read auditd's "
    "plugin stream on stdin; auto: multicast if an audit daemon runs, else daemon.",
)
@click.option("--duration", type=Seconds(0), help="Stop after this many seconds.")
@click.option("--count", type=count_type(), help="Stop after this many events shown.")
@click.option(
    "--backlog",
    type=count_type(1, MAX_ID),
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
@click.option(
    "--show/--no-show",
    default=True,
    show_default=True,
    help="Show events on stdout (--no-show: the store, --sink and --output still get them).",
)
@click.option("--no-rules", is_flag=True, help="Do not install the procmon rules when they are absent.")
@click.option(
    "--repair",
    is_flag=True,
    help="Reinstall the procmon rules and re-enable audit whenever someone removes them "
    "(an alarm each time; what is re-added is removed on exit like the rest).",
)
@click.option(
    "--heartbeat",
    type=Seconds(0),
    default=DEFAULT_HEARTBEAT,
    show_default=True,
    metavar="SECONDS",
    help="Send a heartbeat (counters) to every --sink this often, so receivers can tell silence "
    "from a dead collector; 0: none.",
)
@db_option
@click.option("--no-store", is_flag=True, help="Do not store events and alarms in the event store.")
@spec_options("--rule-key")
@filter_options
@format_option
@sink_options
@reports_errors
def watch(
    mode: str,
    duration: float | None,
    count: int | None,
    backlog: int | None,
    output: str | None,
    show: bool,
    no_rules: bool,
    repair: bool,
    heartbeat: float,
    db: Path | None,
    no_store: bool,
    key: str,
    no_execveat: bool,
    fields: tuple[str, ...],
    exclude_exes: tuple[str, ...],
    fmt: str | None,
    **params: Any,
) -> None:
    """Show exec events live until Ctrl-C/SIGTERM, --duration or --count.

    Settings come from the configuration file (--config; see 'exectrail config example') unless
    given here.

    Installs the procmon rules if absent, and on exit puts back everything it changed (rules,
    enabled, backlog, audit daemon registration). Every exec event (not only those the filters
    show) and every alarm go to the event store (--db; --no-store to skip) and to each --sink.
    Interference is reported at once as an alarm: audit disabled, rules deleted, failure mode,
    backlog or audit pid changed, the audit daemon stopping, events lost by the kernel, an
    earlier watch killed. Exit status 1 when events were lost or could not be stored/forwarded.
    """
    event_filter = build_filter(params)
    spec = build_spec(key, no_execveat, fields, exclude_exes)
    if mode == "plugin" and output is None:
        output = PLUGIN_OUTPUT
    fmt = fmt or ("jsonl" if output else resolve_format(None))
    if output and fmt == "table":
        raise UsageError("--output writes jsonl or csv, not table")
    check_sink_options(params)  # before the store is opened (or created)
    store = open_store(db, no_store)
    try:
        sinks = open_sinks(params)
    except BaseException:
        if store is not None:
            store.close()
        raise
    stream = ReopenableFile(output) if output else None
    writer = make_writer(fmt, stream) if show or stream else HiddenWriter()  # type: ignore[arg-type]
    outputs = WatchOutputs(writer, store, sinks, heartbeat)
    run = Run(mode, spec, event_filter, Limits(count, duration), backlog, not no_rules, repair)
    try:
        capture, totals, diagnostics = _run(run, writer, stream, outputs)
    finally:
        writer.close()
        if stream is not None:
            stream.close()
        stored = outputs.close_store()
    echo_err(summary(capture, totals, diagnostics, outputs))
    if stored is not None:
        echo_err(f"exectrail: {stored}")
    if capture.notes:
        echo_err("exectrail: restored: " + "; ".join(capture.notes))
    if totals.reason.startswith("error"):
        raise KernelAuditError(f"capture failed: {totals.reason[len('error: ') :]}")
    lost = any(a.kind == kinds.EVENTS_LOST for a in outputs.alarms)
    if lost or capture.source.overruns or outputs.failed:
        raise click.exceptions.Exit(EXIT_LOST)


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


def _run(
    run: Run, writer: EventWriter, stream: ReopenableFile | None, outputs: WatchOutputs
) -> tuple[Capture, Totals, Diagnostics]:
    """Set up the capture, run the loop until it stops, put the kernel back; then the sinks drain."""
    stop, reopen = threading.Event(), threading.Event()
    stopped_by: list[str] = []
    diagnostics = Diagnostics()

    def notify(kind: str, message: str) -> None:
        echo_err(f"exectrail: {message}")

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
            notify=notify,
            alarm=outputs.alarm,
            backlog=run.backlog,
            install_rules=run.install_rules,
            repair_rules=run.repair,
        ) as capture,
    ):
        for note in capture.notes:
            echo_err(f"exectrail: {note}")
        capture.notes.clear()
        echo_err(f"exectrail: watching in {capture.mode} mode (Ctrl-C to stop)")
        builder = EventBuilder(diagnostics, on_group=capture.monitor.group)
        loop = Watch(capture, builder, run.event_filter, writer, run.limits, stop, on_idle, outputs.record)

        def counters() -> dict[str, int]:
            t = loop.totals
            lost = capture.monitor.lost
            return {"records": capture.source.records, "events": t.events, "shown": t.shown, "lost": lost}

        outputs.start(capture.mode, counters)
        totals = loop.run()
        if totals.reason == "signal" and stopped_by:
            totals.reason = stopped_by[0]  # "watch stopped (SIGTERM)"
        outputs.stopped()
    return capture, totals, diagnostics


def register(group: click.Group) -> None:
    group.add_command(watch)
