"""The fleet answers as the store does: three hosts' real logs, each imported into its own store and
forwarded to a real ClickHouse (18.16) under its own host name, some twice (duplicates), then every
query (search, tree, timeline, report, alarms) run both ways through the command line must give the
same JSON lines for that host."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exectrail.query import fleetevents
from tests.support.casedata import column, decoded_events, read_case
from tests.support.cli import run_cli
from tests.support.paths import DATA, REPO
from tests.support.servers import ClickHouse

pytestmark = pytest.mark.server

PEER = REPO.parent / "shared" / "peer-logs"
#: Each host's logs: this machine's captures, and logs other projects ship (non-UTF-8 arguments,
#: events without SYSCALL records, records out of order, an oversized EXECVE, other distributions).
LOGS = {
    "alpha": [DATA / "workload_enriched.log"],
    "beta": [DATA / "interleaved_concurrent.log"],
    "gamma": [DATA / "workload_raw_node.log.gz"],
    "delta": [
        PEER / "elastic__beats/filebeat__module__auditd__log__test__execve-hex-arg.log",
        PEER / "threathunters-io__laurel/src__testdata__shell-proc-trace.txt",
        PEER / "elastic__go-libaudit/testdata__out_of_order.log",
        PEER / "elastic__go-libaudit/auparse__testdata__audit-rhel7.log",
        PEER
        / "elastic__integrations"
        / "packages__auditd__data_stream__log___dev__test__pipeline__test-oversized-execve.log",
    ],
}
TABLE = "fleet_queries"
TWICE = ("gamma",)  # forwarded twice: every row is there two times until ClickHouse merges
#: An alarm names the host it concerns: the log's node= name when it has one (the forwarder's otherwise).
ALARM_HOST = {"gamma": "exectrail-test"}


class Fleet:
    def __init__(self, url: str, stores: dict[str, Path]) -> None:
        self.url, self.stores = url, stores

    def store_lines(self, host: str, args: list[str]) -> list[dict[str, Any]]:
        return _lines(run_cli([*args, "--format", "jsonl", "--db", str(self.stores[host])]), args)

    def fleet_lines(self, host: str, args: list[str], as_host: str | None = None) -> list[dict[str, Any]]:
        result = run_cli([*args, "--format", "jsonl", "--from", self.url, "--host", as_host or host])
        return [_as_store(line, host) for line in _lines(result, args)]


def _lines(result: Any, args: list[str]) -> list[dict[str, Any]]:
    assert result.exit_code in (0, 3), (args, result.exit_code, result.stderr, result.stdout[-500:])
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _as_store(value: Any, host: str) -> Any:
    """A fleet answer as the store gives it: the host name stands where the log had no node name."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("node", "host") and item == host:
                if key == "node":
                    out[key] = None
                continue  # the fleet's session list says which host; the store's has no host column
            out[key] = _as_store(item, host)
        if out.get("type") == "alarm":
            out["host"] = value.get("host") if value.get("host") != host else None
        return out
    if isinstance(value, list):
        return [_as_store(item, host) for item in value]
    return value


@pytest.fixture(scope="module")
def fleet(clickhouse: ClickHouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("fleet")
    url = clickhouse.url(table=TABLE)
    stores = {}
    for host, logs in LOGS.items():
        stores[host] = work / f"{host}.db"
        log = [str(path) for path in logs]
        result = run_cli(["import", "--db", str(stores[host]), *log])
        assert result.exit_code in (0, 3), result.stderr
        for _ in range(2 if host in TWICE else 1):
            result = run_cli(["review", *log, "--format", "jsonl", "--sink", url, "--host-name", host,
                              "--spool", str(work / "spool")])  # fmt: skip
            assert result.exit_code in (0, 3), result.stderr
            assert "pending" not in result.stderr
    yield Fleet(url, stores)
    clickhouse.query(f"DROP TABLE IF EXISTS default.{TABLE}")


def test_the_fleet_holds_every_host_and_duplicates(fleet: Fleet, clickhouse: ClickHouse) -> None:
    hosts = clickhouse.query(f"SELECT DISTINCT host FROM default.{TABLE} ORDER BY host").split()
    assert hosts == sorted([*LOGS, *ALARM_HOST.values()])
    rows = int(clickhouse.query(f"SELECT count() FROM default.{TABLE} WHERE host = 'gamma'"))
    ids = int(clickhouse.query(f"SELECT uniqExact(id) FROM default.{TABLE} WHERE host = 'gamma'"))
    assert rows == 2 * ids  # the answers below must count each event once


SEARCHES = [
    [],
    ["--text", "gcc"],
    ["--text", "tmp*"],
    ["--text", "/usr/bin"],
    ["--comm", "sh"],
    ["--exe", "/usr/bin/*"],
    ["--success", "no"],
    ["--argv-contains", "-c"],
    ["--key", "procmon"],
    ["--uid", "0", "--limit", "7"],
    ["--newest-first", "--limit", "25"],
    ["--start", "2026-11-25T14:50:00Z", "--end", "2026-11-25T14:50:30Z"],
]


@pytest.mark.parametrize("host", sorted(LOGS))
@pytest.mark.parametrize("args", SEARCHES, ids=lambda a: " ".join(a) or "all")
def test_search(fleet: Fleet, host: str, args: list[str]) -> None:
    store = fleet.store_lines(host, ["search", *args])
    assert fleet.fleet_lines(host, ["search", *args]) == store


WORD_SEARCHES = [
    ["--text", "gcc"],
    ["--text", "bin", "--newest-first"],
    ["--text", "tmp*", "--limit", "3"],
    ["--text", "usr/bin", "--limit", "10", "--newest-first"],
    ["--text", "x86_64-linux-gnu", "--limit", "1"],
    ["--text", "exec_chain bin", "--limit", "40"],
    ["--text", "nosuchword"],
]


@pytest.mark.parametrize("rare", [0, 10**9], ids=["common-words", "rare-words"])
@pytest.mark.parametrize("args", WORD_SEARCHES, ids=lambda a: " ".join(a))
def test_word_index_plans(fleet: Fleet, args: list[str], rare: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way the fleet finds words gives the store's answer: the index's rows of a rare word; the
    index's first rows of a common word (--limit), grown until certain; every match of a common word,
    a window of seconds at a time."""
    monkeypatch.setattr(fleetevents, "RARE", rare)
    monkeypatch.setattr(fleetevents, "FIRST_ROWS", 1)  # the first rows grow from 2 × --limit
    monkeypatch.setattr(fleetevents, "WINDOW_ROWS", 3)  # every match: many windows, crowded seconds
    for host in LOGS:
        assert fleet.fleet_lines(host, ["search", *args]) == fleet.store_lines(host, ["search", *args])


def test_without_a_word_index(fleet: Fleet, clickhouse: ClickHouse) -> None:
    """A table made before the index (or whose index was dropped) is scanned, with the same answers."""
    clickhouse.query(f"RENAME TABLE default.{TABLE}_words TO default.{TABLE}_words_away")
    try:
        for host in LOGS:
            for args in WORD_SEARCHES:
                assert fleet.fleet_lines(host, ["search", *args]) == fleet.store_lines(
                    host, ["search", *args]
                )
    finally:
        clickhouse.query(f"RENAME TABLE default.{TABLE}_words_away TO default.{TABLE}_words")


def test_search_found_something(fleet: Fleet) -> None:
    """The comparisons above are not of empty answers."""
    for args in (["--text", "gcc"], ["--success", "no"], ["--exe", "/usr/bin/*"]):
        assert sum(bool(fleet.store_lines(h, ["search", *args])) for h in LOGS) >= 3, args


def test_search_across_hosts(fleet: Fleet) -> None:
    """Without --host: every host's events, in time order; each tells its host."""
    result = run_cli(["search", "--text", "gcc", "--format", "jsonl", "--from", fleet.url])
    events = [json.loads(line) for line in result.stdout.splitlines()]
    per_host = {h: len(fleet.store_lines(h, ["search", "--text", "gcc"])) for h in LOGS}
    assert len(events) == sum(per_host.values())
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    nodes = {e["node"] for e in events}
    assert {"alpha", "beta"} <= nodes
    globbed = run_cli(
        ["search", "--text", "gcc", "--format", "jsonl", "--from", fleet.url, "--host", "[ab]*"]
    )
    assert len(globbed.stdout.splitlines()) == per_host["alpha"] + per_host["beta"]


def _tree_pids(store: Path) -> list[int]:
    """A busy parent, a process with an ancestry, and a leaf: real pids of the log."""
    conn = sqlite3.connect(store)
    try:
        busy = conn.execute(
            "SELECT ppid FROM events WHERE ppid IS NOT NULL GROUP BY ppid ORDER BY count(*) DESC, ppid "
            "LIMIT 1"
        ).fetchone()
        some = conn.execute(
            "SELECT pid FROM events WHERE pid IS NOT NULL ORDER BY time_ms "
            "LIMIT 1 OFFSET (SELECT count(pid) / 2 FROM events)"
        ).fetchone()
        last = conn.execute(
            "SELECT pid FROM events WHERE pid IS NOT NULL ORDER BY time_ms DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return [int(busy[0]), int(some[0]), int(last[0])]


@pytest.mark.parametrize("host", sorted(LOGS))
def test_tree(fleet: Fleet, host: str) -> None:
    for pid in _tree_pids(fleet.stores[host]):
        for extra in ([], ["--max-nodes", "5"], ["--comm", "ls"]):
            args = ["tree", str(pid), *extra]
            store = fleet.store_lines(host, args)
            assert store, args
            assert fleet.fleet_lines(host, args) == store, args


def test_tree_needs_one_host(fleet: Fleet) -> None:
    pid = _tree_pids(fleet.stores["alpha"])[0]
    result = run_cli(["tree", str(pid), "--from", fleet.url, "--format", "jsonl"])
    shared = all(
        sqlite3.connect(fleet.stores[h])
        .execute("SELECT 1 FROM events WHERE pid = ? OR ppid = ?", (pid, pid))
        .fetchone()
        for h in LOGS
    )
    if shared:
        assert result.exit_code == 2 and "choose one with --host" in result.stderr
    missing = run_cli(["tree", "4194000", "--from", fleet.url, "--host", "alpha"])
    assert missing.exit_code != 0 and "no exec of pid 4194000" in missing.stderr


TIMELINES = [[], ["--auid", "0"], ["--session", "unset"], ["--tty", "pts0"], ["--comm", "sh"]]


@pytest.mark.parametrize("host", sorted(LOGS))
@pytest.mark.parametrize("args", TIMELINES, ids=lambda a: " ".join(a) or "sessions")
def test_timeline(fleet: Fleet, host: str, args: list[str]) -> None:
    store = fleet.store_lines(host, ["timeline", *args])
    assert fleet.fleet_lines(host, ["timeline", *args]) == store


@pytest.mark.parametrize("host", sorted(LOGS))
@pytest.mark.parametrize("args", [[], ["--top", "3"], ["--success", "no"], ["--exe", "/usr/*"]], ids=str)
def test_report(fleet: Fleet, host: str, args: list[str]) -> None:
    store = fleet.store_lines(host, ["report", *args])
    assert store
    assert fleet.fleet_lines(host, ["report", *args]) == store


@pytest.mark.parametrize("host", sorted(LOGS))
def test_alarms(fleet: Fleet, host: str) -> None:
    store = fleet.store_lines(host, ["alarms"])
    assert store
    found = fleet.fleet_lines(host, ["alarms"], ALARM_HOST.get(host))
    assert [a["time"] for a in found] == sorted(a["time"] for a in found)
    # alarms of one millisecond: the store keeps the order they were found in, the fleet their ids' order
    assert sorted(found, key=_by_time) == sorted(store, key=_by_time)


def _by_time(item: dict[str, Any]) -> tuple[str, str]:
    return item["time"], json.dumps(item, sort_keys=True)


def test_usage_errors(fleet: Fleet, tmp_path: Path) -> None:
    for args, said in (
        (["search", "--host", "alpha"], "--host selects hosts of the fleet"),
        (["search", "--from", "syslog+tcp://127.0.0.1:1"], "--from wants"),
        (["search", "--from", fleet.url, "--db", str(tmp_path / "x.db")], "not both"),
        (["search", "--from", "clickhouse+http://127.0.0.1:8123/bad-name"], "not a plain identifier"),
    ):
        result = run_cli(args)
        assert result.exit_code == 2, (args, result.stderr)
        assert said in result.stderr and "Traceback" not in result.stderr


def test_server_down_is_one_line(tmp_path: Path) -> None:
    from tests.support.servers import free_port

    result = run_cli(["search", "--from", f"clickhouse+http://127.0.0.1:{free_port()}/default"])
    assert result.exit_code == 2
    assert "connection refused" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("host", sorted(LOGS))
def test_html_case_report(fleet: Fleet, host: str, tmp_path: Path) -> None:
    """``report --html --from`` holds the events, tree and alarms the store's report holds."""
    cases = {}
    for where, source in (
        ("store", ["--db", str(fleet.stores[host])]),
        ("fleet", ["--from", fleet.url, "--host", host, "--host", ALARM_HOST.get(host, host)]),
    ):
        out = tmp_path / f"{where}.html"
        result = run_cli(["report", "--html", str(out), *source])
        assert result.exit_code == 0, result.stderr
        cases[where] = read_case(out)
    store, from_fleet = cases["store"], cases["fleet"]
    events = [dataclasses.replace(e, node=None) if e.node == host else e for e in decoded_events(from_fleet)]
    assert events == decoded_events(store) and events
    assert from_fleet["parent"] == store["parent"]
    assert set(column(from_fleet, from_fleet["host"])) == {from_fleet["strings"].index(host)}
    assert [a["kind"] for a in from_fleet["alarms"]] == [a["kind"] for a in store["alarms"]]
    assert host in from_fleet["summary"]["hosts"] and from_fleet["made"]["source"]["kind"] == "clickhouse"
