"""``--sink``/``--spool``/``--spool-max``/``--host-name``/``--sink-wait`` for commands that forward.

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

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from exectrail.cli.common import HostName, note
from exectrail.sinks import DEFAULT_SPOOL_DIR, SinkRun, SinkSet, parse_size
from exectrail.sinks.registry import parse_sink_url
from exectrail.sinks.spec import parse_seconds

F = TypeVar("F", bound=Callable[..., Any])
SINK_PARAMS = ("sinks", "spool", "spool_max", "host_name", "sink_wait")


def sink_options(func: F) -> F:
    """Add the forwarding options to a click command; read them with :func:`open_sinks`."""
    options = [
        click.option("--sink", "sinks", multiple=True, metavar="URL",
                     help="Forward events (repeatable): syslog+tcp://HOST:PORT, "
                          "syslog+tls://HOST:PORT?ca=FILE, syslog+udp://HOST:PORT, "
                          "clickhouse+http://HOST:8123/DB?table=T, jsonl:///PATH, sqlite:///PATH."),
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


__all__ = ["check_sink_options", "open_sinks", "sink_options"]
