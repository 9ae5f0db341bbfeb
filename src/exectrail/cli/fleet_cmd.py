"""``exectrail fleet``: the fleet in ClickHouse as a whole; ``fleet status``: every host's last
heartbeat and counters, and a ``host-silent`` alarm for each host that went quiet without saying so."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime

import click

from exectrail.cli.common import EXIT_ALARMS, echo_err
from exectrail.cli.options import fleet_options, open_source, resolve_format, tabular_format_option
from exectrail.errors import UsageError
from exectrail.output.alarmlist import alarm_summary
from exectrail.output.fleetstatus import render_fleet_status
from exectrail.query.fleetstatus import FleetStatus, fleet_status
from exectrail.timeparse import parse_time

NEEDS_FROM = "fleet status reads the fleet in ClickHouse: give --from clickhouse+http://HOST:8123/DATABASE"


@click.group("fleet")
def fleet_group() -> None:
    """The fleet's hosts as the ClickHouse sink stored them (--from URL)."""


@fleet_group.command("status")
@fleet_options
@click.option(
    "--now",
    "now_text",
    metavar="TIME",
    help="Judge silence as of this time (ISO 8601, @EPOCH; replays, tests) [default: now].",
)
@tabular_format_option
def status(source_url: str | None, hosts: tuple[str, ...], now_text: str | None, fmt: str | None) -> None:
    """Every host seen: its last heartbeat and state, its counters, and host-silent alarms.

    A host is silent when its last heartbeat is older than twice its interval and was not 'stopped'.
    Exit status: 0 no host silent, 3 a host is silent, 2 the fleet could not be read.
    """
    if source_url is None:
        raise UsageError(NEEDS_FROM)
    now = parse_time(now_text) if now_text is not None else datetime.now(UTC)
    fleet = open_source(source_url, hosts)
    assert fleet is not None
    with closing(fleet):
        found = fleet_status(fleet, now)
    render_fleet_status(found, resolve_format(fmt))
    echo_err(f"exectrail: {summary(found)}")
    if found.alarms:
        raise click.exceptions.Exit(EXIT_ALARMS)


def summary(found: FleetStatus) -> str:
    """``3 hosts, 1 silent; 1 alarm (1 certain, 0 suspicious)`` (and the unreadable heartbeats)."""
    count = len(found.hosts)
    text = (
        f"{count} host{'s' if count != 1 else ''}, {len(found.alarms)} silent; {alarm_summary(found.alarms)}"
    )
    if found.unreadable:
        names = ", ".join(host.name for host in found.hosts if host.unreadable)
        plural = "s" if found.unreadable != 1 else ""
        text += f"; {found.unreadable} unreadable heartbeat{plural} not trusted ({names})"
    return text


__all__ = ["fleet_group", "status"]
