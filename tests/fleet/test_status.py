"""``exectrail fleet status`` against a real ClickHouse server (Debian's 18.16): heartbeats made by
``watch``'s own :class:`WatchOutputs` through a real sink set, and heartbeats shaped exactly like them
sent through the ClickHouse sink with controlled times; hostile rows put in with raw INSERTs."""

from __future__ import annotations

import csv
import io
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import Result

from exectrail.capture.outputs import WatchOutputs
from exectrail.model import ExecEvent
from exectrail.output.fleetstatus import CSV_FIELDS
from exectrail.output.writers import HiddenWriter
from exectrail.query.fleetstatus import FleetStatus, HostStatus, fleet_status
from exectrail.sinks import SinkRun, SinkSet, Tuning
from exectrail.sinks.clickhouse import open_fleet
from exectrail.timefmt import iso
from tests.support.cli import run_cli
from tests.support.fleet import heartbeat, send
from tests.support.servers import ClickHouse, free_port

pytestmark = pytest.mark.server
FAST = Tuning(retry_initial=0.05, retry_max=0.5)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def forward_events(
    clickhouse: ClickHouse, table: str, events: list[ExecEvent], host: str, spool: Path
) -> None:
    sinks = SinkSet.from_urls([clickhouse.url(table=table)], spool, host=host, warn=print, tuning=FAST)
    for event in events:
        sinks.submit(event)
    [summary] = sinks.close(30)
    assert (summary.delivered, summary.pending, summary.dropped) == (len(events), 0, 0)


def status_of(clickhouse: ClickHouse, table: str, now: datetime, hosts: tuple[str, ...] = ()) -> FleetStatus:
    fleet = open_fleet(clickhouse.url(table=table), hosts)
    try:
        return fleet_status(fleet, now)
    finally:
        fleet.close()


def by_name(status: FleetStatus) -> dict[str, HostStatus]:
    return {host.name: host for host in status.hosts}


def fleet_cli(clickhouse: ClickHouse, table: str, *args: str) -> Result:
    return run_cli(["fleet", "status", "--from", clickhouse.url(table=table), *args])


# ---- heartbeats made by watch's own outputs ------------------------------------------------------


def run_watch_outputs(clickhouse: ClickHouse, table: str, host: str, spool: Path, stop_cleanly: bool) -> int:
    """Heartbeats every 0.2 s for about 0.7 s from a real :class:`WatchOutputs` into a real sink set;
    ``stop_cleanly``: end with the ``stopped`` one (as ``watch`` does), else just stop sending (a crash)."""
    sinks = SinkSet.from_urls([clickhouse.url(table=table)], spool, host=host, warn=print, tuning=FAST)
    notes: list[str] = []
    run = SinkRun(sinks, 30.0, notes.append)
    outputs = WatchOutputs(HiddenWriter(), None, run, heartbeat=0.2, notify=notes.append)
    with run:
        outputs.start("test", lambda: {"records": 7, "events": 5, "shown": 5, "lost": 2})
        deadline = time.monotonic() + 0.7
        while time.monotonic() < deadline:
            outputs.idle()
            time.sleep(0.02)
        if stop_cleanly:
            outputs.stopped()
    assert not run.failed, notes
    return outputs.heartbeats


def test_real_heartbeats_a_crashed_host_goes_silent_a_stopped_one_does_not(
    clickhouse: ClickHouse, tmp_path: Path
) -> None:
    beats = {
        "crashed": run_watch_outputs(clickhouse, "real_beats", "crashed", tmp_path / "a", stop_cleanly=False),
        "stopped": run_watch_outputs(clickhouse, "real_beats", "stopped", tmp_path / "b", stop_cleanly=True),
    }
    assert beats["crashed"] >= 3 and beats["stopped"] >= 4  # started, running…, (stopped)
    seen = {host.name: host.last_heartbeat for host in status_of(clickhouse, "real_beats", NOW).hosts}
    crashed_last, stopped_last = seen["crashed"], seen["stopped"]
    assert crashed_last is not None and stopped_last is not None
    soon = by_name(status_of(clickhouse, "real_beats", crashed_last + timedelta(seconds=0.1)))
    assert {name: host.state for name, host in soon.items()} == {"crashed": "running", "stopped": "stopped"}
    assert not any(host.silent for host in soon.values())
    crashed = soon["crashed"]
    assert (crashed.interval, crashed.mode, crashed.heartbeats, crashed.unreadable) == (
        0.2,
        "test",
        beats["crashed"],
        0,
    )
    assert crashed.counters["lost"] == 2 and crashed.counters["events"] == 5 and crashed.pid is not None
    later = status_of(clickhouse, "real_beats", max(crashed_last, stopped_last) + timedelta(seconds=1))
    hosts = by_name(later)
    assert hosts["crashed"].silent and not hosts["stopped"].silent
    [alarm] = later.alarms
    assert (alarm.kind, alarm.host, alarm.certainty, alarm.time) == (
        "host-silent",
        "crashed",
        "certain",
        later.now,
    )
    assert alarm.details["last_state"] == "running" and alarm.details["interval"] == 0.2
    assert alarm.details["silent_for_s"] == pytest.approx(
        (later.now - hosts["crashed"].last_heartbeat).total_seconds()  # type: ignore[operator]
    )


# ---- heartbeats with controlled times ------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet_table(
    clickhouse: ClickHouse, real_events: list[ExecEvent], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """At :data:`NOW`: ``ok`` (running, 30 s ago, every 60 s), ``quiet`` (running, 121 s ago, every
    60 s), ``done`` (stopped an hour ago), ``events-only`` (exec events, some delivered twice, no
    heartbeat)."""
    table = "fleet_cases"
    send(clickhouse, table, [
        heartbeat("ok", NOW - timedelta(seconds=90), n=1), heartbeat("ok", NOW - timedelta(seconds=30), n=2),
        heartbeat("quiet", NOW - timedelta(seconds=181), n=1, lost=4),
        heartbeat("quiet", NOW - timedelta(seconds=121), n=2, lost=5),
        heartbeat("done", NOW - timedelta(seconds=3700), n=1),
        heartbeat("done", NOW - timedelta(seconds=3600), state="stopped", n=2),
    ])  # fmt: skip
    spool = tmp_path_factory.mktemp("spool")
    forward_events(clickhouse, table, real_events[:50], "events-only", spool / "a")
    forward_events(clickhouse, table, real_events[:10], "events-only", spool / "b")  # at-least-once
    return table


def test_running_silent_stopped_and_events_only(clickhouse: ClickHouse, fleet_table: str,
                                                real_events: list[ExecEvent]) -> None:  # fmt: skip
    status = status_of(clickhouse, fleet_table, NOW)
    hosts = by_name(status)
    assert list(hosts) == ["done", "events-only", "ok", "quiet"]
    assert [h.name for h in status.hosts if h.silent] == ["quiet"] and [a.host for a in status.alarms] == [
        "quiet"
    ]
    assert (hosts["ok"].state, hosts["ok"].last_heartbeat, hosts["ok"].heartbeats) == (
        "running", NOW - timedelta(seconds=30), 2,
    )  # fmt: skip
    assert hosts["quiet"].counters["lost"] == 5 and hosts["quiet"].silent_for_s == 121
    assert hosts["done"].state == "stopped" and not hosts["done"].silent
    only = hosts["events-only"]
    first, last = min(e.time for e in real_events[:50]), max(e.time for e in real_events[:50])
    # rows: the 10 delivered twice count twice until ClickHouse merges them (it may have by now)
    assert (only.state, only.silent, only.heartbeats) == ("none", False, 0) and only.events in (50, 60)
    assert abs((only.first_event - first).total_seconds()) < 0.001  # type: ignore[operator]
    assert abs((only.last_event - last).total_seconds()) < 0.001  # type: ignore[operator]
    # just under twice the interval: not silent yet
    assert not status_of(clickhouse, fleet_table, NOW - timedelta(seconds=2)).alarms


def test_cli_table_prints_the_alarm_and_exits_3(clickhouse: ClickHouse, fleet_table: str) -> None:
    result = fleet_cli(clickhouse, fleet_table, "--now", iso(NOW), "--format", "table")
    assert result.exit_code == 3, result.stderr
    lines = result.stdout.splitlines()
    row = {
        line.split()[0]: line.split() for line in lines if line.split()[:1] in (["ok"], ["quiet"], ["done"])
    }
    assert row["quiet"][1] == "SILENT" and row["ok"][1] == "running" and row["done"][1] == "stopped"
    printed = " ".join(result.stdout.split())  # the alarm's line is folded at the terminal's width
    assert f"{NOW:%Y-%m-%d %H:%M:%S}.000 ALARM host-silent: no heartbeat from quiet for 2 min 1 s" in printed
    assert result.stderr.strip() == "exectrail: 4 hosts, 1 silent; 1 alarm (1 certain, 0 suspicious)"


def test_cli_jsonl_and_csv_parse(clickhouse: ClickHouse, fleet_table: str) -> None:
    result = fleet_cli(clickhouse, fleet_table, "--now", iso(NOW), "--format", "jsonl")
    objects = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 3
    hosts = {o["host"]: o for o in objects if o["type"] == "fleet-host"}
    [alarm] = [o for o in objects if o["type"] == "alarm"]
    assert alarm["kind"] == "host-silent" and alarm["host"] == "quiet" and alarm["time"] == iso(NOW)
    assert alarm["details"]["last_heartbeat"] == iso(NOW - timedelta(seconds=121))
    assert hosts["quiet"]["silent"] is True and hosts["ok"]["silent"] is False
    assert hosts["events-only"]["state"] == "none" and hosts["events-only"]["events"] in (50, 60)
    result = fleet_cli(clickhouse, fleet_table, "--now", iso(NOW), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_FIELDS and [r["host"] for r in rows] == [
        "done",
        "events-only",
        "ok",
        "quiet",
    ]
    quiet = rows[-1]
    assert (quiet["silent"], quiet["silent_for_s"], quiet["hb_lost"], quiet["state"]) == (
        "true",
        "121.0",
        "5",
        "running",
    )


@pytest.mark.parametrize(("patterns", "expected", "code"), [
    (("ok",), ["ok"], 0), (("q*",), ["quiet"], 3), (("o?", "d[aeiou]ne"), ["done", "ok"], 0),
    (("nobody",), [], 0),
])  # fmt: skip
def test_host_globs_narrow(clickhouse: ClickHouse, fleet_table: str, patterns: tuple[str, ...],
                           expected: list[str], code: int) -> None:  # fmt: skip
    assert [h.name for h in status_of(clickhouse, fleet_table, NOW, patterns).hosts] == expected
    args = [arg for pattern in patterns for arg in ("--host", pattern)]
    result = fleet_cli(clickhouse, fleet_table, "--now", iso(NOW), "--format", "jsonl", *args)
    assert result.exit_code == code
    assert [orjson.loads(line)["host"] for line in result.stdout.splitlines()][: len(expected)] == expected


# ---- hostile rows --------------------------------------------------------------------------------


def raw_heartbeat(clickhouse: ClickHouse, table: str, host: str, n: int, when: datetime, body: str) -> None:
    row = {"id": f"heartbeat:{host}:1:{n}", "host": host, "type": "heartbeat",
           "time": when.strftime("%Y-%m-%d %H:%M:%S"), "time_ms": 0, "body": body}  # fmt: skip
    clickhouse.query(f"INSERT INTO default.{table} FORMAT JSONEachRow {orjson.dumps(row).decode()}")


def beat_json(**fields: object) -> str:
    return orjson.dumps({"type": "heartbeat", "state": "running", "interval": 60, **fields}).decode()


#: Heartbeat rows that do not look like one exectrail wrote (no JSON, wrong types, unknown state…).
HOSTILE = [
    "not json {", "[]", '"a string"', "{}", "\x00\xff", beat_json(interval="60"), beat_json(interval=-1),
    beat_json(interval=0), beat_json(interval=True), beat_json(interval=1e10), beat_json(state="zombie"),
    beat_json(type="alarm"), beat_json().replace("60", "1e999"), beat_json(pid="x")[:-1],
]  # fmt: skip
#: One that looks right to the query but is not JSON.
LOOKALIKE = beat_json().replace("60", "6e,")


@pytest.fixture(scope="module")
def hostile_table(clickhouse: ClickHouse) -> str:
    """``garbage``: only hostile heartbeats; ``masked``: a real heartbeat, silent, then hostile newer
    ones; ``odd``: a real heartbeat whose pid, mode and counters are of the wrong types."""
    table = "fleet_hostile"
    send(clickhouse, table, [heartbeat("masked", NOW - timedelta(seconds=600))])
    odd = {
        **heartbeat("odd", NOW - timedelta(seconds=10)),
        "pid": "1",
        "mode": 5,
        "counters": {"lost": "x", "events": 2},
    }
    send(clickhouse, table, [odd])
    for n, body in enumerate(HOSTILE):
        raw_heartbeat(clickhouse, table, "garbage", n, NOW - timedelta(seconds=n), body)
        raw_heartbeat(clickhouse, table, "masked", 100 + n, NOW - timedelta(seconds=n), body)
    raw_heartbeat(clickhouse, table, "garbage", 99, NOW - timedelta(seconds=100), LOOKALIKE)
    return table


def test_hostile_heartbeats_are_counted_never_trusted(clickhouse: ClickHouse, hostile_table: str) -> None:
    status = status_of(clickhouse, hostile_table, NOW)
    hosts = by_name(status)
    garbage, masked, odd = hosts["garbage"], hosts["masked"], hosts["odd"]
    assert (garbage.state, garbage.unreadable, garbage.heartbeats, garbage.silent) == (
        "unreadable", len(HOSTILE) + 1, len(HOSTILE) + 1, False,
    )  # fmt: skip
    assert garbage.last_heartbeat is None and garbage.interval is None
    assert masked.state == "running" and masked.silent and masked.unreadable == len(HOSTILE)
    assert (odd.pid, odd.mode, odd.counters, odd.silent) == (None, None, {"events": 2}, False)
    assert status.unreadable == 2 * len(HOSTILE) + 1 and [a.host for a in status.alarms] == ["masked"]
    result = fleet_cli(clickhouse, hostile_table, "--now", iso(NOW), "--format", "table")
    assert result.exit_code == 3 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().endswith(
        f"{2 * len(HOSTILE) + 1} unreadable heartbeats not trusted (garbage, masked)"
    )


def test_a_host_name_cannot_drive_the_terminal(clickhouse: ClickHouse) -> None:
    send(clickhouse, "fleet_names", [heartbeat("evil\x1b[2J\rname", NOW - timedelta(seconds=1000))])
    result = fleet_cli(clickhouse, "fleet_names", "--now", iso(NOW), "--format", "table")
    assert result.exit_code == 3 and "\x1b" not in result.stdout + result.stderr and "\r" not in result.stdout
    assert "evil\\x1b[2J\\rname" in result.stdout


# ---- what cannot be read -------------------------------------------------------------------------


def test_server_down_is_one_line_exit_1() -> None:
    result = run_cli(["fleet", "status", "--from", f"clickhouse+http://127.0.0.1:{free_port()}/default"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "connection refused" in result.stderr


def test_missing_table_is_one_line_exit_1(clickhouse: ClickHouse) -> None:
    result = fleet_cli(clickhouse, "never_written")
    assert result.exit_code == 2 and result.stdout == ""
    assert (
        result.stderr == f"exectrail: ClickHouse at 127.0.0.1:{clickhouse.http_port} has no table "
        "default.never_written: nothing was forwarded there yet, or ?table= names another\n"
    )


@pytest.mark.parametrize(("args", "needle"), [
    ([], "give --from"), (["--from", "http://x:1/db"], "--from wants"), (["--host", "a b", "--from",
    "clickhouse+http://127.0.0.1:1/db"], "--host wants"), (["--from", "clickhouse+http://127.0.0.1:1/db",
    "--now", "soon"], ""),
])  # fmt: skip
def test_usage_errors_exit_2(args: list[str], needle: str) -> None:
    result = run_cli(["fleet", "status", *args])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and needle in result.stderr


def test_a_host_name_that_is_not_utf8_is_shown_not_fatal(clickhouse: ClickHouse) -> None:
    send(clickhouse, "fleet_bytes", [heartbeat("fine", NOW - timedelta(seconds=10))])
    body = beat_json().replace("60", '60,"note":"\xff"').encode("latin-1")  # not UTF-8 in the JSON too
    for n, (host, text) in enumerate(((b"bad\xff\xfehost", body), (b"fine", body))):
        sql = (b"INSERT INTO default.fleet_bytes (id, host, type, time, time_ms, body) VALUES ('x%d', '%s', "
               b"'heartbeat', '2026-11-25 11:59:55', 0, '%s')") % (n, host, text)  # fmt: skip
        request = urllib.request.Request(f"http://127.0.0.1:{clickhouse.http_port}/", data=sql)
        urllib.request.urlopen(request, timeout=30).read()
    hosts = by_name(status_of(clickhouse, "fleet_bytes", NOW))
    assert set(hosts) == {"bad\ufffd\ufffdhost", "fine"}
    assert hosts["bad\ufffd\ufffdhost"].state == "running" and hosts[
        "fine"
    ].last_heartbeat == NOW - timedelta(seconds=5)
    result = fleet_cli(clickhouse, "fleet_bytes", "--now", iso(NOW), "--format", "jsonl")
    assert result.exit_code == 0 and {
        orjson.loads(line)["host"] for line in result.stdout.splitlines()
    } == set(hosts)
