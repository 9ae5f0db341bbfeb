"""Fleet test helpers: heartbeat bodies as ``watch`` makes them, sent through the real ClickHouse sink."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exectrail.sinks.base import Message
from exectrail.sinks.clickhouse import ClickHouseSink
from exectrail.sinks.registry import parse_sink_url
from exectrail.timefmt import iso
from tests.support.servers import ClickHouse


def heartbeat(host: str, when: datetime, state: str = "running", interval: float = 60.0, n: int = 1,
              pid: int = 4242, lost: int = 0) -> dict[str, Any]:  # fmt: skip
    """A heartbeat body exactly as ``WatchOutputs._beat`` makes it."""
    return {
        "type": "heartbeat", "id": f"heartbeat:{host}:{pid}:{n}", "host": host, "time": iso(when),
        "state": state, "pid": pid, "mode": "daemon", "interval": interval,
        "counters": {"records": 10 * n, "events": 3 * n, "shown": 3 * n, "lost": lost, "alarms": 0,
                     "stored": 3 * n, "uptime_s": int(interval) * n},
    }  # fmt: skip


def send(clickhouse: ClickHouse, table: str, bodies: list[dict[str, Any]]) -> None:
    """``bodies`` through the ClickHouse sink (one batch), as the sink set would hand them on."""
    sink = ClickHouseSink(parse_sink_url(clickhouse.url(table=table)))
    try:
        sink.send([Message(body) for body in bodies])
    finally:
        sink.close()
