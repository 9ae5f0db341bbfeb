"""``exectrail import``: the alarms found in the logs go to the store (once), events and alarms to
``--sink``; ``--no-alarms`` skips the search; stdin is imported without it."""

from __future__ import annotations

import json
from pathlib import Path

from exectrail.interference.detector import scan_logs
from exectrail.store import EventStore
from exectrail.store.alarms import read_alarms, verify_alarms
from tests.support.cli import run_cli
from tests.support.paths import INTERFERENCE_DATA as DATA

LOG = DATA / "config_changes.log"


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    result = run_cli(list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def test_import_stores_the_alarms_of_the_logs_once(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    expected, _events, _audit = scan_logs([LOG])
    code, err = run("import", "--db", str(db), str(LOG))
    assert code == 0
    assert (
        f"{len(expected)} alarms (6 certain, 2 suspicious) in the logs, {len(expected)} new in the store"
        in err
    )
    assert "exectrail: ALARM audit-disabled: audit was disabled (enabled=0)" in err
    stored = read_alarms(db)
    assert [(a.kind, a.time, a.summary) for a in stored] == [(a.kind, a.time, a.summary) for a in expected]
    code, err = run("import", "--db", str(db), str(LOG))
    assert code == 0 and "in the logs, 0 new in the store" in err
    assert len(read_alarms(db)) == len(expected)
    with EventStore(db, readonly=True) as store:
        assert verify_alarms(store) == []


def test_no_alarms_and_stdin(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    code, err = run("import", "--db", str(db), "--no-alarms", str(LOG))
    assert code == 0 and "in the logs" not in err and "ALARM" not in err and read_alarms(db) == []
    code, err = run("import", "--db", str(tmp_path / "b.db"), "-", stdin=LOG.read_bytes())
    assert code == 0 and "alarms are not looked for in stdin" in err
    assert read_alarms(tmp_path / "b.db") == []


def test_import_forwards_every_event_and_alarm(tmp_path: Path) -> None:
    db, out = tmp_path / "events.db", tmp_path / "sink.jsonl"
    sink = ("--sink", f"jsonl://{out}", "--spool", str(tmp_path / "spool"), "--host-name", "h1")
    code, err = run("import", "--db", str(db), *sink, str(LOG))
    assert code == 0 and f"sink jsonl://{out}: " in err
    received = [json.loads(line) for line in out.read_text().splitlines()]
    events = [o for o in received if o["type"] == "exec"]
    alarms = [o for o in received if o["type"] == "alarm"]
    with EventStore(db, readonly=True) as store:
        assert len(events) == store.count() > 0
    assert [a["kind"] for a in alarms] == [a.kind for a in read_alarms(db)]
    assert all(o["host"] == "h1" and o["id"] for o in received)
