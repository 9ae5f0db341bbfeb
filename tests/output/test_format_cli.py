"""``--format ecs|ocsf`` through the real command line: review of a captured log and search of a store
print one mapped object per exec event and alarm, exactly what mapping ``--format jsonl`` gives;
listings that are not events keep table/jsonl/csv; csv and table are unchanged."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from exectrail.enrich.identity import host_identity
from exectrail.jsonform import EVENT_TYPE
from exectrail.output.ecs import HostInfo, alarm_to_ecs, event_to_ecs
from exectrail.output.ocsf import alarm_to_ocsf, event_to_ocsf
from exectrail.schema import JSON_COLUMNS
from tests.support.cli import run_cli
from tests.support.paths import DATA

LOG = DATA / "workload_enriched.log"
MAPPINGS = {"ecs": (event_to_ecs, alarm_to_ecs), "ocsf": (event_to_ocsf, alarm_to_ocsf)}
THIS_HOST = HostInfo(socket.gethostname(), host_identity())


def lines(stdout: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stdout.splitlines()]


def mapped(objects: list[dict[str, Any]], schema: str, host: HostInfo) -> list[dict[str, Any]]:
    """``--format jsonl`` objects mapped by hand: events by the event mapping, alarms by the alarm one."""
    on_event, on_alarm = MAPPINGS[schema]
    return [on_event(o, host) if o["type"] == EVENT_TYPE else on_alarm(o, host) for o in objects]


def review(*args: str) -> bytes:
    result = run_cli(["review", *args, str(LOG)])
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


@pytest.fixture(scope="module")
def review_jsonl() -> list[dict[str, Any]]:
    objects = lines(review("--format", "jsonl"))
    kinds = {o["type"] for o in objects}
    assert kinds == {EVENT_TYPE, "alarm"} and len(objects) > 200  # events and alarms both
    return objects


@pytest.mark.parametrize("schema", ["ecs", "ocsf"])
def test_review_maps_every_event_and_alarm(schema: str, review_jsonl: list[dict[str, Any]]) -> None:
    got = lines(review("--format", schema))
    assert got == mapped(review_jsonl, schema, THIS_HOST)
    if schema == "ecs":
        assert {g["event"]["kind"] for g in got} == {"event", "alert"}
        assert {g["host"]["id"] for g in got} == {THIS_HOST.host_id}
    else:
        assert {g["class_uid"] for g in got} == {1007, 2004}
        assert {g["device"]["uid"] for g in got} == {THIS_HOST.host_id}


def test_review_host_id_names_the_host_that_wrote_the_log(review_jsonl: list[dict[str, Any]]) -> None:
    """--host-id: the events are another host's, so host.id is that id and this host's name is not used."""
    other = "feedc0de" * 4
    theirs = lines(review("--format", "jsonl", "--host-id", other))
    got = lines(review("--format", "ecs", "--host-id", other))
    assert got == mapped(theirs, "ecs", HostInfo(None, other))
    assert {g["host"].get("id") for g in got} == {other}
    assert all("name" not in g["host"] for g in got if g["event"]["kind"] == "event")
    assert [o["exec_id"] for o in theirs if "exec_id" in o] != [
        o["exec_id"] for o in review_jsonl if "exec_id" in o
    ]


def test_csv_and_table_are_unchanged(review_jsonl: list[dict[str, Any]]) -> None:
    limit = csv.field_size_limit(1 << 30)  # the log holds a command line of more than 128 KiB
    try:
        rows = list(csv.reader(io.StringIO(review("--format", "csv").decode())))
    finally:
        csv.field_size_limit(limit)
    assert tuple(rows[0]) == JSON_COLUMNS
    column = JSON_COLUMNS.index
    assert [(r[column("type")], r[column("time")]) for r in rows[1:]] == [
        (o["type"], o["time"]) for o in review_jsonl
    ]
    table = review("--format", "table").decode()
    assert "time (UTC)" in table and "ALARM" in table
    assert '"class_uid"' not in table and '"@timestamp"' not in table


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "events.db"
    result = run_cli(["import", "--db", str(db), str(LOG)])
    assert result.exit_code in (0, 3), result.stderr  # 3: the log's alarms were found
    return db


def test_search_maps_stored_events(store: Path) -> None:
    query = ["search", "--db", str(store), "--comm", "gcc"]
    plain = run_cli([*query, "--format", "jsonl"])
    ocsf = run_cli([*query, "--format", "ocsf"])
    assert plain.exit_code == ocsf.exit_code == 0, ocsf.stderr
    events = lines(plain.stdout_bytes)
    assert events and lines(ocsf.stdout_bytes) == mapped(events, "ocsf", THIS_HOST)
    assert {e["process"]["name"] for e in lines(ocsf.stdout_bytes)} == {"gcc"}


def test_timeline_events_map_but_the_session_list_does_not(store: Path) -> None:
    sessions = run_cli(["timeline", "--db", str(store), "--format", "jsonl"])
    assert sessions.exit_code == 0 and sessions.stdout
    refused = run_cli(["timeline", "--db", str(store), "--format", "ecs"])
    assert refused.exit_code == 2 and "the list of sessions is table, jsonl or csv" in refused.stderr
    auid = lines(sessions.stdout_bytes)[0]["auid"]
    selector = ["--auid", "unset" if auid is None else str(auid)]
    plain = run_cli(["timeline", "--db", str(store), *selector, "--format", "jsonl"])
    ecs = run_cli(["timeline", "--db", str(store), *selector, "--format", "ecs"])
    assert plain.exit_code == ecs.exit_code == 0, ecs.stderr
    events = lines(plain.stdout_bytes)
    assert events and lines(ecs.stdout_bytes) == mapped(events, "ecs", THIS_HOST)


@pytest.mark.parametrize("command", ["tree", "report"])
def test_listings_that_are_not_events_do_not_offer_the_schemas(store: Path, command: str) -> None:
    args = [command, "1"] if command == "tree" else [command]
    result = run_cli([*args, "--db", str(store), "--format", "ocsf"])
    assert result.exit_code == 2 and "'ocsf' is not one of 'table', 'jsonl', 'csv'" in result.stderr


def test_alarms_map_through_the_same_writer() -> None:
    plain = run_cli(["alarms", "--format", "jsonl", str(LOG)])
    ecs = run_cli(["alarms", "--format", "ecs", str(LOG)])
    assert plain.exit_code == ecs.exit_code == 3, ecs.stderr
    found = lines(plain.stdout_bytes)
    assert found and lines(ecs.stdout_bytes) == mapped(found, "ecs", THIS_HOST)


def test_watch_output_file_takes_any_format_but_the_table(tmp_path: Path) -> None:
    result = run_cli(["watch", "--output", str(tmp_path / "x"), "--format", "table", "--no-store"])
    assert result.exit_code == 2
    assert "--output writes jsonl, csv, ecs or ocsf, not table" in result.stderr
    assert not (tmp_path / "x").exists()
