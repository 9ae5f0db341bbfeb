"""Alarms in the store: schema version 2, de-duplication on re-import, their own hash chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from exectrail.interference.detector import scan_logs
from exectrail.store import EventStore
from exectrail.store.alarms import (
    alarm_identity,
    alarm_message_body,
    read_alarms,
    store_alarms,
    verify_alarms,
)
from tests.support.paths import INTERFERENCE_DATA as DATA


def found() -> list:  # type: ignore[type-arg]
    return scan_logs([str(DATA / "config_changes.log")])[0]


def test_round_trip_and_reimport(tmp_path: Path) -> None:
    alarms = found()
    db = tmp_path / "events.db"
    with EventStore(db) as store:
        assert store_alarms(store, alarms) == len(alarms)
        assert store_alarms(store, alarms) == 0  # the same logs imported again
        assert verify_alarms(store) == []
    back = read_alarms(db)
    assert [a.kind for a in back] == [a.kind for a in alarms]
    assert back[0].details == alarms[0].details and back[0].evidence == alarms[0].evidence
    assert back[0].time == alarms[0].time


def test_chain_finds_edits_and_deletions(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with EventStore(db) as store:
        store_alarms(store, found())
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alarms SET summary = 'nothing happened' WHERE seq = 2")
    conn.execute("DELETE FROM alarms WHERE seq = 4")
    conn.commit()
    conn.close()
    with EventStore(db) as store:
        problems = verify_alarms(store)
    assert problems == ["alarm 2: edited: alarm 2 was edited: its content does not match its digest"]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alarms SET summary = ? WHERE seq = 2", (found()[1].summary,))
    conn.commit()
    conn.close()
    with EventStore(db) as store:
        assert verify_alarms(store) == ["alarm 5: deleted: alarm 4 missing before alarm 5"]


def test_message_for_sinks() -> None:
    alarm = found()[0]
    body = alarm_message_body(alarm, host="web1")
    assert body["type"] == "alarm" and body["id"] == alarm_identity(alarm) and body["host"] == "web1"
    assert body["kind"] == "audit-disabled"
