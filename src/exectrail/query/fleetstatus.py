"""``fleet status``: every host of the fleet table, its last heartbeat, what the table holds for it,
and a ``host-silent`` alarm for each host that stopped sending heartbeats without saying so.

Two queries, each one ``GROUP BY host``: the exec rows (how many, first and last time) and the
other rows (distinct alarms, the last heartbeat by ``argMax``). A heartbeat's JSON is data a host, or
anyone who can write to the table, put there: one whose JSON is broken, whose ``state`` is not one
exectrail sends or whose ``interval`` is not a positive number is *unreadable*: counted, never
trusted, never a traceback. The last readable heartbeat decides; a host whose heartbeats are all
unreadable shows the state ``unreadable`` and is not judged.

A host is silent when its last heartbeat is not ``stopped`` and is older than twice its own
interval. A host with events but no heartbeat at all (``none``) is listed and not judged: it was run
without ``--heartbeat`` (``review``/``import`` forward too), so its silence means nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import orjson

from exectrail.interference.kinds import HOST_SILENT
from exectrail.model import CERTAIN, Alarm
from exectrail.query.fleetsql import MS
from exectrail.timefmt import iso
from exectrail.warehouse.client import WarehouseError
from exectrail.warehouse.source import Fleet

STATES = ("started", "running", "stopped")
STOPPED = "stopped"
#: The state of a host whose heartbeats are all unreadable, and of one that never sent any.
UNREADABLE, NONE = "unreadable", "none"
#: Counters of the last heartbeat that the status shows (others are kept in :attr:`HostStatus.counters`).
SHOWN_COUNTERS = ("events", "lost", "alarms")
MAX_INTERVAL = 1e9  # seconds, what ``watch --heartbeat`` accepts at most
SILENT_FACTOR = 2  # a host is silent after this many of its intervals without a heartbeat

#: Milliseconds since the epoch of a row: the order of heartbeats, the first and last event.
#: A heartbeat row worth parsing: the compact JSON exectrail writes, an object of type heartbeat with a
#: known state and a positive number as interval (:func:`read_heartbeat` checks the rest).
_PLAUSIBLE = (
    "startsWith(body, '{') AND endsWith(body, '}') AND visitParamExtractString(body, 'type') = 'heartbeat' "
    "AND visitParamExtractString(body, 'state') IN ('started', 'running', 'stopped') "
    "AND match(visitParamExtractRaw(body, 'interval'), '^[0-9][0-9.eE+-]*$') "
    f"AND visitParamExtractFloat(body, 'interval') BETWEEN 1e-9 AND {MAX_INTERVAL:g}"
)


@dataclass(frozen=True)
class HostStatus:
    """One host: its last readable heartbeat (None when it has none) and what the table holds for it."""

    name: str
    state: str  # started, running, stopped; unreadable; none
    last_heartbeat: datetime | None = None
    interval: float | None = None
    mode: str | None = None
    pid: int | None = None
    counters: dict[str, int] = field(default_factory=dict)  # the last heartbeat's (integers only)
    heartbeats: int = 0  # heartbeat rows
    unreadable: int = 0  # heartbeat rows not trusted
    events: int = 0  # exec rows: an event delivered twice counts twice until ClickHouse merges the copies
    alarms: int = 0  # distinct alarms
    first_event: datetime | None = None
    last_event: datetime | None = None
    silent_for_s: float | None = None  # since the last heartbeat, when the host is silent

    @property
    def silent(self) -> bool:
        return self.silent_for_s is not None


@dataclass(frozen=True)
class FleetStatus:
    """Every host (sorted by name) at ``now``, and one ``host-silent`` alarm per silent host."""

    now: datetime
    hosts: list[HostStatus]
    alarms: list[Alarm]

    @property
    def unreadable(self) -> int:
        """Heartbeat rows not trusted, over all hosts."""
        return sum(host.unreadable for host in self.hosts)


@dataclass(frozen=True)
class Heartbeat:
    """The fields of a heartbeat that the status uses, checked."""

    state: str
    interval: float
    pid: int | None
    mode: str | None
    counters: dict[str, int]


def read_heartbeat(body: object) -> Heartbeat | None:
    """The heartbeat of a ``body`` text (None when it is not one exectrail can have sent)."""
    try:
        data = orjson.loads(body) if isinstance(body, str) else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") != "heartbeat":
        return None
    state, interval = data.get("state"), data.get("interval")
    if state not in STATES or not isinstance(interval, int | float) or isinstance(interval, bool):
        return None
    if not (math.isfinite(interval) and 0 < interval <= MAX_INTERVAL):
        return None
    pid, mode, counters = data.get("pid"), data.get("mode"), data.get("counters")
    return Heartbeat(
        state=str(state),
        interval=float(interval),
        pid=pid if _is_int(pid) else None,
        mode=mode if isinstance(mode, str) else None,
        counters={k: v for k, v in counters.items() if _is_int(v)} if isinstance(counters, dict) else {},
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _time(ms: object) -> datetime | None:
    """A row's epoch milliseconds as a time (None for 0: no such row, or a time the sink could not read)."""
    if not _is_int(ms) or not 0 < ms < 2**32 * 1000:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


def _count(row: dict[str, Any], key: str) -> int:
    """A count of a row ({}: no row, 0)."""
    value = row.get(key, 0)
    if not _is_int(value):
        raise WarehouseError(f"ClickHouse sent a row without a count of {key}")
    return value


def _unhex(row: dict[str, Any], key: str) -> str:
    """A text column read as ``hex(…)`` (so that bytes that are not UTF-8 cannot break the JSON of
    the reply): the text, such bytes shown as U+FFFD."""
    try:
        return bytes.fromhex(row[key]).decode("utf-8", "replace")
    except (KeyError, TypeError, ValueError):
        raise WarehouseError(f"ClickHouse sent a row without {key}") from None


def _host(row: dict[str, Any]) -> str:
    return _unhex(row, "host_hex")


def exec_counts(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """Per host: exec rows and the first and last one's time (epoch ms). Rows, not distinct ids: an
    event delivered twice counts twice until ClickHouse merges the copies (counting distinct ids took
    0.9 s over 10 M rows on 2 cores, rows 0.12 s; the host's own count is its heartbeat's counter)."""
    sql = (
        "SELECT hex(host) AS host_hex, count() AS events, "
        f"min({MS}) AS first_ms, max({MS}) AS last_ms "
        f"FROM {fleet.table} PREWHERE type = 'exec' WHERE {fleet.host_condition()} GROUP BY host"
    )
    return {_host(row): row for row in fleet.rows(sql)}


def heartbeats(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """Per host: distinct alarms, heartbeat rows, unreadable ones, and the last plausible heartbeat's
    JSON (in hex, as the host name) and time (epoch ms)."""
    sql = (
        "SELECT hex(host) AS host_hex, uniqExactIf(id, type = 'alarm') AS alarms, "
        "countIf(type = 'heartbeat') AS beats, "
        f"countIf(type = 'heartbeat' AND NOT ({_PLAUSIBLE})) AS implausible, "
        f"hex(argMaxIf(body, {MS}, type = 'heartbeat' AND {_PLAUSIBLE})) AS beat, "
        f"maxIf({MS}, type = 'heartbeat' AND {_PLAUSIBLE}) AS beat_ms "
        f"FROM {fleet.table} PREWHERE type IN ('heartbeat', 'alarm') WHERE {fleet.host_condition()} "
        "GROUP BY host"
    )
    return {_host(row): row for row in fleet.rows(sql)}


def fleet_status(fleet: Fleet, now: datetime) -> FleetStatus:
    """The status of every host of ``fleet`` (narrowed by its ``--host`` globs) at ``now``."""
    if not fleet.exists():
        raise WarehouseError(
            f"ClickHouse at {fleet.client.where} has no table {fleet.table}: nothing was forwarded there "
            "yet, or ?table= names another"
        )
    execs, others = exec_counts(fleet), heartbeats(fleet)
    hosts = [host_status(name, execs.get(name, {}), others.get(name, {}), now)
             for name in sorted(execs.keys() | others.keys())]  # fmt: skip
    return FleetStatus(now, hosts, [silent_alarm(host, now) for host in hosts if host.silent])


def host_status(name: str, execs: dict[str, Any], others: dict[str, Any], now: datetime) -> HostStatus:
    """One host's status from its rows of :func:`exec_counts` and :func:`heartbeats` ({} for none)."""
    beats, implausible = _count(others, "beats"), _count(others, "implausible")
    found = HostStatus(
        name=name, state=UNREADABLE if beats else NONE, heartbeats=beats, unreadable=implausible,
        events=_count(execs, "events"), alarms=_count(others, "alarms"),
        first_event=_time(execs.get("first_ms")), last_event=_time(execs.get("last_ms")),
    )  # fmt: skip
    when = _time(others.get("beat_ms"))
    beat = read_heartbeat(_unhex(others, "beat")) if when is not None else None
    if when is None or beat is None:
        return replace(
            found, unreadable=implausible + (when is not None)
        )  # the last looked right, did not read
    quiet = (now - when).total_seconds()
    silent = beat.state != STOPPED and quiet > SILENT_FACTOR * beat.interval
    return replace(
        found, state=beat.state, last_heartbeat=when, interval=beat.interval, mode=beat.mode, pid=beat.pid,
        counters=beat.counters, silent_for_s=round(quiet, 3) if silent else None,
    )  # fmt: skip


def silent_alarm(host: HostStatus, now: datetime) -> Alarm:
    """The ``host-silent`` alarm of a silent host."""
    assert host.last_heartbeat is not None and host.interval is not None and host.silent_for_s is not None
    return Alarm(
        kind=HOST_SILENT,
        time=now,
        host=host.name,
        certainty=CERTAIN,
        summary=(
            f"no heartbeat from {host.name} for {_span(host.silent_for_s)} (it sends one every "
            f"{host.interval:g} s; the last, at {iso(host.last_heartbeat)}, said {host.state}): its "
            "collector stopped without saying so, or cannot reach the sink"
        ),
        details={
            "last_heartbeat": iso(host.last_heartbeat),
            "interval": host.interval,
            "silent_for_s": host.silent_for_s,
            "last_state": host.state,
            "pid": host.pid,
            "mode": host.mode,
        },
    )


def _span(seconds: float) -> str:
    """``95 s``, ``1 h 5 min``, ``3 d 2 h``: how long, roughly."""
    whole = timedelta(seconds=int(seconds))
    days, rest = whole.days, whole.seconds
    if days:
        return f"{days} d {rest // 3600} h"
    if rest >= 3600:
        return f"{rest // 3600} h {rest % 3600 // 60} min"
    if rest >= 120:
        return f"{rest // 60} min {rest % 60} s"
    return f"{seconds:.0f} s"


__all__ = ["FleetStatus", "HostStatus", "fleet_status", "read_heartbeat", "silent_alarm"]
