"""Benchmark ``fleet status`` over a generated fleet table, and one table against three.

    python bench/fleet_status.py [--execs 9000000] [--hosts 100] [--days 7] [--runs 7]

A real clickhouse-server on 127.0.0.1 (tests/support/servers.py) gets the fleet table as the sink
creates it, filled by ``INSERT … SELECT FROM numbers()``: ``--execs`` exec rows spread over ``--hosts``
hosts and ``--days`` days (1 % of them inserted a second time, as at-least-once delivery does), one
heartbeat a minute per host (the JSON ``watch`` sends), 1,000 alarms. Then the same rows split into an
exec, a heartbeat and an alarm table. Figures: the median and best of ``--runs`` runs of the
``fleet_status`` call and of each of its queries, on one table and on the split ones, and of alarm
reads; the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.servers import ClickHouse  # noqa: E402

from exectrail.query import fleetstatus  # noqa: E402
from exectrail.sinks.clickhouse import open_fleet  # noqa: E402
from exectrail.warehouse.table import DDL_SETTINGS, create_table_sql  # noqa: E402

BASE = 1795000000  # 2026-11-18


def execs_sql(table: str, count: int, hosts: int, days: int) -> str:
    t = f"toDateTime({BASE} + intDiv(number * {days * 86400}, {count}))"
    return (
        f"INSERT INTO {table} (id, host, type, time, time_ms, serial, node, pid, ppid, uid, auid, success, "
        "exit, exe, comm, cwd, argc, argv, argv_hex, fileless, body) SELECT "
        f"concat('web', toString(number % {hosts}), ':', toString(toUInt32({t})), '.', "
        f"toString(number % 1000), ':', toString(number)), concat('web', toString(number % {hosts})), "
        f"'exec', {t}, number % 1000, "
        f"number, concat('web', toString(number % {hosts})), 1000 + number % 30000, 1 + number % 5000, "
        "number % 3 = 0 ? 0 : 1000, 1000, 1, 0, concat('/usr/bin/prog', toString(number % 500)), "
        "concat('prog', toString(number % 500)), '/home/user', 3, "
        "[concat('prog', toString(number % 500)), '--flag', toString(number % 77)], emptyArrayString(), "
        f"emptyArrayString(), '' FROM numbers({count})"
    )


def heartbeats_sql(table: str, hosts: int, days: int) -> str:
    n, h = f"intDiv(number, {hosts})", f"toString(number % {hosts})"
    when = f"toDateTime({BASE} + {n} * 60, 'UTC')"
    body = (
        f"""concat('{{"type":"heartbeat","id":"heartbeat:web', {h}, ':4242:', toString({n}), """
        f"""'","host":"web', {h}, '","time":"', replaceOne(toString({when}), ' ', 'T'), """
        f"""'.123Z","state":"running","pid":4242,"mode":"daemon","interval":60.0,"counters":"""
        f"""{{"records":', toString(number * 7), ',"events":', """
        f"""toString(number), ',"shown":0,"lost":0,"alarms":0,"uptime_s":', toString({n} * 60), '}}}}')"""
    )
    return (
        f"INSERT INTO {table} (id, host, type, time, time_ms, body) SELECT "
        f"concat('heartbeat:web', {h}, ':4242:', toString({n})), concat('web', {h}), 'heartbeat', {when}, "
        f"123, {body} FROM numbers({hosts * days * 1440})"
    )


def alarms_sql(table: str, hosts: int) -> str:
    return (
        f"INSERT INTO {table} (id, host, type, time, time_ms, body) SELECT "
        f"concat('alarm:', toString(number)), concat('web', toString(number % {hosts})), "
        f"'alarm', toDateTime({BASE} + number * 600), 5, "
        """'{"type":"alarm"}' FROM numbers(1000)"""
    )


def timed(runs: int, action: Callable[[], object]) -> str:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return f"median {statistics.median(times):.3f} s, best {min(times):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=9_000_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    server = ClickHouse()
    server.start()
    try:
        run(server, args)
    finally:
        server.cleanup()


def run(server: ClickHouse, args: argparse.Namespace) -> None:
    def query(sql: str) -> None:
        target = f"http://127.0.0.1:{server.http_port}/?allow_experimental_low_cardinality_type=1"
        urllib.request.urlopen(urllib.request.Request(target, data=sql.encode()), timeout=600).read()

    assert DDL_SETTINGS == {"allow_experimental_low_cardinality_type": 1}
    query(create_table_sql("default.fleet"))
    start = time.perf_counter()
    query(execs_sql("default.fleet", args.execs, args.hosts, args.days))
    query(heartbeats_sql("default.fleet", args.hosts, args.days))
    query(alarms_sql("default.fleet", args.hosts))
    query("INSERT INTO default.fleet SELECT * FROM default.fleet WHERE type = 'exec' AND serial % 100 = 0")
    for kind in ("exec", "heartbeat", "alarm"):
        query(create_table_sql(f"default.fleet_{kind}"))
        query(f"INSERT INTO default.fleet_{kind} SELECT * FROM default.fleet WHERE type = '{kind}'")
    print(f"filled in {time.perf_counter() - start:.0f} s:")
    print(server.query("SELECT table, sum(rows), formatReadableSize(sum(bytes_on_disk)) FROM system.parts "
                       "WHERE active AND database = 'default' GROUP BY table ORDER BY table"))  # fmt: skip
    print(f"load average before: {os.getloadavg()}")
    fleet = open_fleet(f"clickhouse+http://127.0.0.1:{server.http_port}/default?table=fleet")
    now = datetime.now(UTC)
    status = fleetstatus.fleet_status(fleet, now)
    assert len(status.hosts) == args.hosts
    split = {kind: open_fleet(f"clickhouse+http://127.0.0.1:{server.http_port}/default?table=fleet_{kind}")
             for kind in ("exec", "heartbeat")}  # fmt: skip
    one_host = "WHERE host = 'web7' ORDER BY time FORMAT Null"
    actions: list[tuple[str, Callable[[], object]]] = [
        ("fleet_status (one table)", lambda: fleetstatus.fleet_status(fleet, now)),
        ("  exec query (one table)", lambda: fleetstatus.exec_counts(fleet)),
        ("  heartbeat query (one table)", lambda: fleetstatus.heartbeats(fleet)),
        ("  exec query (exec-only table)", lambda: fleetstatus.exec_counts(split["exec"])),
        ("  heartbeat query (heartbeat-only)", lambda: fleetstatus.heartbeats(split["heartbeat"])),
        ("every alarm (one table)",
         lambda: query("SELECT body FROM default.fleet PREWHERE type = 'alarm' ORDER BY time FORMAT Null")),
        ("every alarm (alarm table)",
         lambda: query("SELECT body FROM default.fleet_alarm ORDER BY time FORMAT Null")),
        ("alarms of one host (one table)",
         lambda: query(f"SELECT body FROM default.fleet PREWHERE type = 'alarm' {one_host}")),
        ("alarms of one host (alarm table)",
         lambda: query(f"SELECT body FROM default.fleet_alarm {one_host}")),
    ]  # fmt: skip
    for label, action in actions:
        print(f"{label + ':':40}{timed(args.runs, action)}")
    print(f"load average after: {os.getloadavg()}")
    fleet.close()


if __name__ == "__main__":
    main()
