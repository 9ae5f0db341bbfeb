"""Non-UTF-8 text in alarms and events through ``import`` and the sqlite sink into the store and back."""

from __future__ import annotations

from pathlib import Path

import orjson

from exectrail.jsonform import alarm_to_dict
from exectrail.model import Alarm, ExecEvent
from exectrail.sinks import SinkSet
from exectrail.store import EventStore
from exectrail.store.reader import SELECT_EVENTS, fetch_events
from tests.support.nonutf8 import RAW, _bad_log, _run, bad_alarm, bad_event


def test_file_sinks_deliver_the_bytes(tmp_path: Path) -> None:
    events = [bad_event(7), bad_event(8)]
    out, db = tmp_path / "out.jsonl", tmp_path / "sink.db"
    sinks = SinkSet.from_urls([f"jsonl://{out}", f"sqlite://{db}"], tmp_path / "spool", host="h", warn=print)
    for event in events:
        sinks.submit(event)
    sinks.submit_message({**alarm_to_dict(bad_alarm()), "id": "alarm-1"})
    summaries = sinks.close(10)
    assert all((s.delivered, s.dropped) == (3, 0) for s in summaries), summaries
    bodies = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [ExecEvent.from_dict(b) for b in bodies[:2]] == events and Alarm.from_dict(
        bodies[2]
    ) == bad_alarm()
    with EventStore(db, readonly=True) as store:
        assert list(fetch_events(store.conn, SELECT_EVENTS + " ORDER BY e.seq")) == events


def test_import_stores_events_and_alarms(tmp_path: Path) -> None:
    log, db = _bad_log(tmp_path), tmp_path / "i.db"
    result = _run("import", "--db", str(db), str(log))
    assert result.returncode in (0, 3), result.stderr
    with EventStore(db, readonly=True) as store:
        exe = store.conn.execute("SELECT exe FROM events WHERE serial = 1110").fetchone()[0]
        assert exe == RAW  # a BLOB: the raw bytes
    alarms = _run("alarms", "--db", str(db), "--format", "jsonl")
    found = [orjson.loads(line) for line in alarms.stdout.splitlines()]
    assert any(RAW.hex() in orjson.dumps(a).decode() for a in found), alarms.stdout
    assert _run("verify", "--db", str(db)).returncode == 0
