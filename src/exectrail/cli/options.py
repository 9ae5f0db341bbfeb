"""The options and parameter types several commands share, and the helpers that read them back.

Event filters (:func:`filter_options` → :func:`build_filter`), ``--format``, ``--db``, the procmon
rule options (:func:`spec_options` → :func:`build_spec`), forwarding (:func:`sink_options` →
:func:`open_sinks`), ``watch --config``, and the log files given as arguments (:func:`input_paths`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from exectrail.cli.common import note
from exectrail.config import DEFAULT_PATH, ENV_VAR, load_for_watch
from exectrail.errors import UsageError
from exectrail.filters import EventFilter
from exectrail.kernel.rules.procmon import DEFAULT_KEY, ProcmonSpec
from exectrail.kernel.rules.rule import parse_field
from exectrail.output.writers import FORMATS, TABULAR_FORMATS, default_format
from exectrail.parse.logfile import check_readable, default_log_paths
from exectrail.sinks import DEFAULT_SPOOL_DIR, SinkRun, SinkSet, parse_size
from exectrail.sinks.clickhouse import open_fleet
from exectrail.sinks.registry import parse_sink_url
from exectrail.sinks.spec import parse_seconds
from exectrail.store import default_db_path
from exectrail.timeparse import parse_time
from exectrail.warehouse.source import Fleet

F = TypeVar("F", bound=Callable[..., Any])

MAX_ID = 2**32 - 1  # pids, uids, login uids and sessions are 32-bit in the audit records
MAX_COUNT = 2**63 - 1  # counts and limits: what the store (SQLite) can compare with
MAX_SECONDS = 1e9  # about 31 years: any longer wait or span is a mistake


# ---- parameter types -----------------------------------------------------------------------------


def _ints(values: Sequence[str], name: str, allow_unset: bool = False) -> frozenset[Any]:
    out: set[int | None] = set()
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if allow_unset and part in ("unset", "-1", str(MAX_ID)):
                out.add(None)
                continue
            out.add(parse_id(part, f"--{name}"))
    return frozenset(out)


def parse_id(text: str, what: str) -> int:
    """A pid, uid or session number (0 to 2^32-1) given on the command line."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_ID:
        raise UsageError(f"{what} wants numbers from 0 to {MAX_ID}, got {text!r}")
    return number


class Seconds(click.ParamType[float]):
    """A finite number of seconds from ``minimum`` up to :data:`MAX_SECONDS` (no inf, no nan)."""

    name = "seconds"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
        if not self.minimum <= number <= MAX_SECONDS:  # also false for nan
            self.fail(f"wants a number of seconds from {self.minimum:g} to {MAX_SECONDS:g}, got {value!r}")
        return number


def count_type(minimum: int = 1, maximum: int = MAX_COUNT) -> click.IntRange:
    """An integer option with both bounds (a value past them is a usage error, not an overflow)."""
    return click.IntRange(min=minimum, max=maximum)


class HostName(click.ParamType[str]):
    """A host name to put on events and alarms: 1 to 255 printable characters, no spaces."""

    name = "name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not 0 < len(text) <= 255 or not text.isprintable() or " " in text or not text.isascii():
            self.fail(f"wants a host name (1 to 255 printable ASCII characters, no spaces), got {text!r}")
        return text


# ---- event filters and output format -------------------------------------------------------------


def filter_options(func: F) -> F:
    """Add the event filters (--pid, --ppid, --uid, --auid, --comm, --exe, --key, --success,
    --start, --end, --argv-contains) to a command; read them back with :func:`build_filter`."""
    options = [
        click.option("--pid", "pids", multiple=True, help="Process id (repeatable, or comma list)."),
        click.option("--ppid", "ppids", multiple=True, help="Parent process id."),
        click.option("--uid", "uids", multiple=True, help="Real user id."),
        click.option("--auid", "auids", multiple=True, help="Login user id ('unset' for none)."),
        click.option("--comm", "comms", multiple=True, help="Command name (exact, or a glob)."),
        click.option("--exe", "exes", multiple=True, help="Executable path (exact, or a glob)."),
        click.option("--key", "keys", multiple=True, help="Audit rule key."),
        click.option("--success", type=click.Choice(["yes", "no"]), help="Only successful / failed execs."),
        click.option("--start", help="From this time (ISO 8601, @EPOCH, today, yesterday, recent…)."),
        click.option("--end", help="Up to this time (same forms as --start)."),
        click.option("--argv-contains", "argv_contains", multiple=True, help="Text in the command line."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


FILTER_PARAMS = ("pids", "ppids", "uids", "auids", "comms", "exes", "keys", "success", "start", "end",
                 "argv_contains")  # fmt: skip


def build_filter(params: dict[str, Any]) -> EventFilter:
    """An :class:`EventFilter` from the options of :func:`filter_options` (popped from ``params``)."""
    p = {name: params.pop(name, None) for name in FILTER_PARAMS}
    start = parse_time(p["start"]) if p["start"] is not None else None
    end = parse_time(p["end"]) if p["end"] is not None else None
    if start and end and end < start:
        raise UsageError("--end is before --start")
    success = None if p["success"] is None else p["success"] == "yes"
    return EventFilter(
        pids=_ints(p["pids"] or (), "pid"),
        ppids=_ints(p["ppids"] or (), "ppid"),
        uids=_ints(p["uids"] or (), "uid"),
        auids=_ints(p["auids"] or (), "auid", allow_unset=True),
        comms=tuple(p["comms"] or ()),
        exes=tuple(p["exes"] or ()),
        keys=tuple(p["keys"] or ()),
        success=success,
        start=start,
        end=end,
        argv_contains=tuple(p["argv_contains"] or ()),
    )


def format_option(func: F) -> F:
    """``--format table|jsonl|csv|ecs|ocsf`` for commands that print exec events and alarms (default:
    table on a terminal, jsonl otherwise)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format; ecs: Elastic Common Schema, ocsf: OCSF Process Activity (docs/formats.md) "
        "[default: table on a terminal, jsonl otherwise].",
    )(func)


def tabular_format_option(func: F) -> F:
    """``--format table|jsonl|csv`` for listings that are not exec events (tree, report)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(TABULAR_FORMATS),
        default=None,
        help="Output format [default: table on a terminal, jsonl otherwise].",
    )(func)


def host_id_option(func: F) -> F:
    """``--host-id ID``: the host identity of exec ids for events logged without ``node=``."""
    return click.option(
        "--host-id",
        default=None,
        metavar="ID",
        help="Host identity for the exec ids of events logged without node= [default: this host's "
        "/etc/machine-id]: the machine id of the host that wrote the log, to get the ids it got there.",
    )(func)


def resolve_format(fmt: str | None) -> str:
    return fmt if fmt is not None else default_format()


# ---- inputs: the store, log files ----------------------------------------------------------------


def db_option(func: F) -> F:
    """``--db PATH`` (env ``EXECTRAIL_DB``; default: :func:`~exectrail.store.default_db_path`)."""
    return click.option(
        "--db",
        "db",
        type=click.Path(path_type=Path),
        envvar="EXECTRAIL_DB",
        default=None,
        help=f"The event store [default: {default_db_path()}; env EXECTRAIL_DB].",
    )(func)


def fleet_options(func: F) -> F:
    """``--from URL`` (the fleet in ClickHouse, the URL the ClickHouse sink takes) and ``--host NAME``
    (repeatable, globs); :func:`open_source` turns them into a fleet or None (the local store)."""
    func = click.option(
        "--host",
        "hosts",
        multiple=True,
        metavar="NAME",
        help="With --from: only this host (repeatable; globs such as web*).",
    )(func)
    return click.option(
        "--from",
        "source_url",
        metavar="URL",
        help="Ask the fleet in ClickHouse instead of the local store: clickhouse+http://HOST:8123/DATABASE.",
    )(func)


def open_source(source_url: str | None, hosts: tuple[str, ...], db: Path | None = None) -> Fleet | None:
    """The fleet ``--from`` names (None: the local store); usage errors for --host without --from
    and for --from with --db."""
    if source_url is None:
        if hosts:
            raise UsageError(
                "--host selects hosts of the fleet: give --from clickhouse+http://HOST:8123/DATABASE"
            )
        return None
    if db is not None:
        raise UsageError("give --db (the local store) or --from (the fleet), not both")
    for host in hosts:
        if not host or any(ch.isspace() for ch in host):
            raise UsageError(f"--host wants a host name or a glob, got {host!r}")
    return open_fleet(source_url, hosts)


def input_paths(files: tuple[str, ...]) -> list[str]:
    """The files to read: as given, or the default audit.log with its rotations, oldest first."""
    paths = list(files) if files else [str(p) for p in default_log_paths()]
    check_readable(paths)
    return paths


# ---- the procmon rules ---------------------------------------------------------------------------


def key_option(func: F, flag: str = "--key") -> F:
    option = click.option(
        flag, "key", default=DEFAULT_KEY, show_default=True, help="Audit rule key of the procmon rules."
    )
    return option(func)


def spec_options(key_flag: str = "--key") -> Callable[[F], F]:
    """``--key`` (or ``key_flag``), ``--no-execveat``, ``-F/--field EXPR``, ``--exclude-exe PATH``."""
    return functools.partial(_spec_options, key_flag=key_flag)


def _spec_options(func: F, key_flag: str) -> F:
    options: list[Callable[[F], F]] = [
        click.option("--no-execveat", is_flag=True, help="Cover execve only (misses fexecve and friends)."),
        click.option(
            "-F",
            "--field",
            "fields",
            multiple=True,
            metavar="EXPR",
            help="Extra rule field in auditctl -F syntax, e.g. 'auid>=1000', 'uid=0', 'exe!=/usr/bin/x'.",
        ),
        click.option(
            "--exclude-exe",
            "exclude_exes",
            multiple=True,
            metavar="PATH",
            help="Do not record execs of this executable (a 'never' rule; repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return key_option(func, key_flag)


def build_spec(
    key: str, no_execveat: bool, fields: tuple[str, ...], exclude_exes: tuple[str, ...]
) -> ProcmonSpec:
    return ProcmonSpec(
        key=key,
        execveat=not no_execveat,
        fields=tuple(parse_field(expr) for expr in fields),
        exclude_exes=tuple(exclude_exes),
    )


# ---- forwarding ----------------------------------------------------------------------------------

SINK_PARAMS = ("sinks", "spool", "spool_max", "host_name", "sink_wait")


def sink_options(func: F) -> F:
    """Add the forwarding options to a click command; read them with :func:`open_sinks`.

    Usage in a command::

        @sink_options
        def cmd(..., **params):
            with open_sinks(params) as sinks:      # pops the sink options from params
                for event in events:
                    sinks.submit(event)
            if sinks.failed: ...                   # events dropped or left in the spool

    On leaving the ``with`` block the sinks get ``--sink-wait`` seconds to deliver (none after an
    exception), the rest stays in the spool, and one summary line per sink goes to stderr.
    """
    options = [
        click.option("--sink", "sinks", multiple=True, metavar="URL",
                     help="Forward events (repeatable): syslog+tcp://HOST:PORT, "
                          "syslog+tls://HOST:PORT?ca=FILE, syslog+udp://HOST:PORT, relp://HOST:PORT, "
                          "relp+tls://HOST:PORT?ca=FILE, clickhouse+http://HOST:8123/DB?table=T, "
                          "jsonl:///PATH, sqlite:///PATH."),
        click.option("--spool", default=DEFAULT_SPOOL_DIR, show_default=True, metavar="DIR",
                     help="Where events wait while a receiver is down or slow."),
        click.option("--spool-max", default="1G", show_default=True, metavar="SIZE",
                     help="Spool size limit per sink; beyond it events are dropped and counted."),
        click.option("--host-name", metavar="NAME", type=HostName(),
                     help="Host name sent with each event [default: hostname]."),
        click.option("--sink-wait", default="10", show_default=True, metavar="SECONDS",
                     help="At the end, how long to wait for receivers before leaving events in the spool."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def check_sink_options(params: dict[str, Any]) -> tuple[float, int]:
    """Check the options of :func:`sink_options` without opening anything (a bad value is a usage
    error before a store or a spool is created); return ``--sink-wait`` and ``--spool-max``."""
    sink_wait, spool_max = params.get("sink_wait"), params.get("spool_max")
    wait = 0.0 if sink_wait in (None, "0") else parse_seconds(str(sink_wait), "--sink-wait")
    size = parse_size(str(spool_max or "1G"), "--spool-max")  # checked even without --sink
    for url in params.get("sinks") or ():
        parse_sink_url(url)
    return wait, size


def open_sinks(params: dict[str, Any]) -> SinkRun:
    """Pop the options of :func:`sink_options` from ``params`` and open the sinks (their warnings
    and summaries go to stderr, escaped like any other data)."""
    wait, spool_max = check_sink_options(params)
    p = {name: params.pop(name, None) for name in SINK_PARAMS}
    if not p["sinks"]:
        return SinkRun(None, wait, note)
    sinks = SinkSet.from_urls(
        p["sinks"], p["spool"] or DEFAULT_SPOOL_DIR, spool_max, p["host_name"], warn=note
    )
    return SinkRun(sinks, wait, note)


# ---- watch's configuration file ------------------------------------------------------------------

CONFIG_HELP = (
    f"Settings file (TOML) [default: ${ENV_VAR}, else {DEFAULT_PATH} if it exists; '' for none]. "
    "Flags given on the command line win."
)


def _apply_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Eager callback: check the file, then make its settings the command's defaults."""
    config = load_for_watch(value)  # ConfigError (one line, exit 2) before anything runs
    if config is not None:
        ctx.default_map = {**(ctx.default_map or {}), **config.default_map()}
        ctx.meta["exectrail.config"] = config.path
    return value


def config_option(func: F) -> F:
    """``--config PATH`` for ``watch`` (see :mod:`exectrail.config.loader` for which file is read).

    The file sets ``watch``'s defaults through click's ``default_map``: a flag given on the command
    line wins, then the environment (``EXECTRAIL_DB``), then the file, then the built-in default.
    """
    return click.option(
        "--config",
        metavar="PATH",
        is_eager=True,
        expose_value=False,
        callback=_apply_config,
        help=CONFIG_HELP,
    )(func)
