"""Non-UTF-8 bytes in any text of an event or alarm survive every format, the store and the file sinks.

The kernel logs a path, exe, comm, cwd, key or proctitle holding a byte that is not UTF-8 as hex; the
event keeps it (``surrogateescape``), the JSON shows U+FFFD plus a ``NAME_hex`` companion, and every
reader rebuilds the exact bytes. The CLI cases use a real log line from ``workload_enriched.log`` with the
``auditctl`` that deletes the exec rules run from ``/tmp/ev\\xffil/`` (so the alarm's actor holds the byte).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.jsonform import alarm_to_dict, event_to_dict
from exectrail.model import Alarm, ExecEvent
from exectrail.output.writers import CsvWriter, JsonlWriter
from exectrail.schema import HEX_TEXT_FIELDS
from exectrail.schema import JSON_COLUMNS as COLUMNS
from exectrail.store import EventStore
from exectrail.store.codec import event_to_row, row_to_event
from tests.support.nonutf8 import BAD, RAW, T, _bad_log, _run, bad_alarm, bad_event
from tests.support.strategies import exec_events


def test_json_has_hex_companions_and_reads_back_exactly() -> None:
    event = bad_event()
    body = orjson.loads(orjson.dumps(event_to_dict(event)))
    for name in HEX_TEXT_FIELDS:
        raw = f"{BAD}-{name}".encode("utf-8", "surrogateescape")
        assert body[f"{name}_hex"] == raw.hex() and body[name] == raw.decode("utf-8", "replace")
    assert list(body) == [c for c in COLUMNS if c in body]  # each companion right after its field
    assert ExecEvent.from_dict(body) == event
    plain = replace(event, **dict.fromkeys(HEX_TEXT_FIELDS, "ascii"))  # type: ignore[arg-type]
    assert not any(k.endswith("_hex") and k != "argv_hex" for k in event_to_dict(plain))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=exec_events())
def test_any_event_survives_json_and_the_store(event: ExecEvent) -> None:
    assert ExecEvent.from_dict(orjson.loads(orjson.dumps(event_to_dict(event)))) == event
    assert row_to_event(event_to_row(event)) == event


def test_alarm_json_is_valid_and_reads_back_exactly() -> None:
    alarm = bad_alarm()
    body = orjson.loads(orjson.dumps(alarm_to_dict(alarm)))
    assert body["details"]["actor"]["exe_hex"] == RAW.hex() and "\ufffd" in body["details"]["actor"]["exe"]
    assert body["details"]["units_hex"] == [None, RAW.hex()]
    assert body["host_hex"] == b"h\xf6st".hex() and "summary_hex" in body and len(body["evidence_hex"]) == 2
    assert Alarm.from_dict(body) == alarm
    clean = Alarm("x", T, "s", details={"a": {"b": "c"}}, evidence=("e",))
    assert set(alarm_to_dict(clean)) == {"type", "kind", "time", "certainty", "host", "summary", "details",
                                         "evidence"}  # fmt: skip
    assert Alarm.from_dict(alarm_to_dict(clean)) == clean


_text = st.binary(max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape"))
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), _text)
_details = st.recursive(
    st.dictionaries(st.sampled_from(["exe", "comm", "n", "list"]), _leaf, max_size=4),
    lambda inner: st.dictionaries(
        st.sampled_from(["actor", "actors", "units", "exe"]),
        st.one_of(_leaf, inner, st.lists(st.one_of(_leaf, inner, st.lists(_leaf, max_size=3)), max_size=3)),
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(details=_details, evidence=st.lists(_text, max_size=3), summary=_text, host=st.none() | _text)
def test_any_alarm_survives_json(details: dict[str, object], evidence: list[str], summary: str,
                                 host: str | None) -> None:  # fmt: skip
    alarm = Alarm("k", T, summary, "certain", host, details, tuple(evidence))
    assert Alarm.from_dict(orjson.loads(orjson.dumps(alarm_to_dict(alarm)))) == alarm


def test_csv_and_jsonl_writers_take_it() -> None:
    text = io.StringIO()
    writer = CsvWriter(text)
    writer.write(bad_event())
    writer.write_alarm(bad_alarm())
    header, row, alarm_row = list(csv.reader(io.StringIO(text.getvalue())))
    got = dict(zip(header, row, strict=True))
    assert got["exe_hex"] == f"{BAD}-exe".encode("utf-8", "surrogateescape").hex()
    assert got["incomplete"] == "False" and "\ufffd" in alarm_row[header.index("proctitle")]
    out = io.BytesIO()
    jsonl = JsonlWriter(out)
    jsonl.write(bad_event())
    jsonl.write_alarm(bad_alarm())
    jsonl.close()
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert ExecEvent.from_dict(first) == bad_event() and Alarm.from_dict(second) == bad_alarm()


def test_store_keeps_the_bytes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with EventStore(db) as store, store.writer() as writer:
        writer.add(bad_event())
    result = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "search", "--db", str(db), "--format", "jsonl"],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert ExecEvent.from_dict(orjson.loads(line)) == bad_event()
    verify = subprocess.run([sys.executable, "-m", "exectrail.cli.main", "verify", "--db", str(db)])
    assert verify.returncode == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
def test_review_and_alarms_show_every_alarm(tmp_path: Path, fmt: str) -> None:
    log = _bad_log(tmp_path)
    alarms = _run("alarms", "--format", fmt, str(log))
    assert alarms.returncode == 3, alarms.stderr  # 3: alarms found
    review = _run("review", "--format", fmt, str(log))
    assert review.returncode in (0, 3), review.stderr
    if fmt == "jsonl":
        found = [orjson.loads(line) for line in alarms.stdout.splitlines()]
        removed = next(a for a in found if a["kind"] == "rules-removed")
        assert RAW.hex() in orjson.dumps(removed).decode()
        events = [
            ExecEvent.from_dict(b)
            for b in map(orjson.loads, review.stdout.splitlines())
            if b["type"] == "exec"
        ]
        [run] = [e for e in events if e.serial == 1110]
        assert run.exe == BAD and run.path == BAD


def test_queries_show_the_bytes_and_cope_with_unknown_fields(tmp_path: Path) -> None:
    """search, timeline, tree and report over a store holding a non-UTF-8 exec, a failed one and an
    incomplete one (pid, ppid, uid, success, exit unknown): every format, exit 0, bytes in *_hex."""
    db = tmp_path / "q.db"
    failed = replace(bad_event(2), success=False, exit=-2, argv=None, argc=None, pid=11, ppid=10)
    lost = replace(bad_event(3), incomplete=True, pid=None, ppid=None, uid=None, success=None, exit=None)
    with EventStore(db) as store, store.writer() as writer:
        for event in (bad_event(1), failed, lost):
            writer.add(event)
    for command in (["search"], ["timeline"], ["timeline", "--session", "3"], ["tree", "10"], ["tree", "11"],
                    ["report"]):  # fmt: skip
        for fmt in ("jsonl", "csv", "table"):
            result = _run(*command, "--db", str(db), "--format", fmt)
            assert result.returncode == 0, (command, fmt, result.stderr)
            if fmt == "jsonl" and command[0] in ("search", "report"):
                assert RAW.hex() in result.stdout.decode(), command
    search = _run("search", "--db", str(db), "--format", "jsonl")
    found = [orjson.loads(line) for line in search.stdout.splitlines()]
    assert [ExecEvent.from_dict(body) for body in found] == [bad_event(1), failed, lost]
