"""``exectrail watch``: live exec events from the kernel (or auditd's plugin stream).

Events are shown (filters apply), stored (``--db``, on by default; every event) and forwarded
(``--sink``; every event); interference with the audit trail is reported as alarms on all of them
(see :mod:`exectrail.capture.monitor`), ``--repair`` puts the rules back and re-enables audit, and
``--heartbeat`` tells the sinks the collector is alive. The command reads its options and hands
them to :func:`exectrail.capture.run.run_watch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from exectrail.capture.outputs import DEFAULT_HEARTBEAT, WatchOutputs
from exectrail.capture.run import ReopenableFile, Run, run_watch
from exectrail.capture.session import MODES
from exectrail.capture.storefeed import StoreFeeder
from exectrail.capture.watch import Limits
from exectrail.cli.common import EXIT_LOST, note, reports_errors
from exectrail.cli.options import (
    MAX_ID,
    Seconds,
    build_filter,
    build_spec,
    check_sink_options,
    config_option,
    count_type,
    db_option,
    filter_options,
    format_option,
    open_sinks,
    resolve_format,
    sink_options,
    spec_options,
)
from exectrail.enrich.environ import DEFAULT_ENV_VARS, is_env_name
from exectrail.errors import KernelAuditError, UsageError
from exectrail.output.writers import HiddenWriter, make_writer

PLUGIN_OUTPUT = "/var/log/exectrail/exec.jsonl"
COMMANDLINE = click.core.ParameterSource.COMMANDLINE


def _env_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """``--env-var`` values: environment variable names, or a usage error naming the first that is not."""
    for name in names:
        if not is_env_name(name):
            raise UsageError(f"--env-var {name!r}: expected an environment variable name such as LD_PRELOAD")
    return names


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
    return StoreFeeder(db, note)


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
    help=f"Append events to this file (--format jsonl, csv, ecs or ocsf) [plugin mode: {PLUGIN_OUTPUT}].",
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
@click.option(
    "--env-var",
    "env_vars",
    multiple=True,
    default=DEFAULT_ENV_VARS,
    show_default=True,
    callback=lambda _ctx, _param, names: _env_names(names),
    metavar="NAME",
    help="An environment variable to record from /proc/PID/environ at each exec (repeat it).",
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
    env_vars: tuple[str, ...],
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
        raise UsageError("--output writes jsonl, csv, ecs or ocsf, not table")
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
    outputs = WatchOutputs(writer, store, sinks, heartbeat, note)
    run = Run(mode, spec, event_filter, Limits(count, duration), backlog, not no_rules, repair, env_vars)
    watched = run_watch(run, outputs, stream, note)
    for line in watched.report():
        note(line)
    if watched.error is not None:
        raise KernelAuditError(f"capture failed: {watched.error}")
    if watched.incomplete:
        raise click.exceptions.Exit(EXIT_LOST)
