"""``exectrail alarms``, ``exectrail check-procs`` and the alarms in ``exectrail review``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from exectrail.interference.detector import scan_logs
from exectrail.store import EventStore
from exectrail.store.alarms import store_alarms
from tests.support import logedit as ed
from tests.support.cli import run_cli
from tests.support.paths import DATA, INTERFERENCE_DATA

CONFIG_LOG = INTERFERENCE_DATA / "config_changes.log"
WORKLOAD_LOG = DATA / "workload_enriched.log"


def invoke(*args: str) -> tuple[int, str, str]:
    result = run_cli(list(args))
    return result.exit_code, result.stdout, result.stderr


def objects(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def clean_log(tmp_path: Path) -> Path:
    """The workload log up to (not including) the harness deleting its rules: nothing to report."""
    lines = ed.read_lines(WORKLOAD_LOG)
    cut = next(i for i, x in enumerate(lines) if b"op=remove_rule" in x)
    while not ed.is_type(lines[cut], "SYSCALL") or ed.serial(lines[cut]) == ed.serial(lines[cut - 1]):
        cut -= 1  # back to the start of an event
    return ed.write(tmp_path / "audit.log", lines[:cut])


def test_alarms_jsonl_and_exit_status() -> None:
    code, out, err = invoke("alarms", "--format", "jsonl", str(CONFIG_LOG))
    found = objects(out)
    assert code == 3
    assert [o["type"] for o in found] == ["alarm"] * 8
    assert found[0]["kind"] == "audit-disabled" and found[0]["certainty"] == "certain"
    assert isinstance(found[0]["evidence"], list) and "audit_enabled=0" in found[0]["evidence"][0]
    assert "8 alarms (6 certain, 2 suspicious)" in err


def test_alarms_none_exits_0(tmp_path: Path) -> None:
    code, out, err = invoke("alarms", "--format", "jsonl", str(clean_log(tmp_path)))
    assert (code, out) == (0, "") and "no alarm" in err


def test_alarms_table_csv_certain() -> None:
    code, out, _ = invoke("alarms", "--format", "table", str(CONFIG_LOG))
    assert code == 3 and "ALARM audit-disabled" in out and "SUSPICIOUS rate-limit-set" in out
    assert "    type=CONFIG_CHANGE msg=audit(" in out  # evidence under the alarm
    code, out, _ = invoke("alarms", "--format", "csv", "--certain", str(CONFIG_LOG))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["type"] for r in rows] == ["alarm"] * 6 and rows[0]["key"] == "audit-disabled"


def test_alarms_kinds_list() -> None:
    code, out, _ = invoke("alarms", "--kinds")
    assert code == 0 and "collector-killed" in out and "unrecorded-exec" in out


def test_alarms_from_the_store(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with EventStore(db) as store:
        store_alarms(store, scan_logs([str(CONFIG_LOG)])[0])
    code, out, _ = invoke("alarms", "--db", str(db), "--format", "jsonl")
    assert code == 3 and len(objects(out)) == 8
    code, _, err = invoke("alarms", "--db", str(db), str(CONFIG_LOG))
    assert code == 2 and "not both" in err


def test_review_shows_alarms_among_events() -> None:
    code, out, err = invoke("review", "--format", "jsonl", str(CONFIG_LOG))
    found = objects(out)
    assert code == 0
    types = [o["type"] for o in found]
    assert types.count("alarm") == 8 and types.count("exec") > 10
    first_alarm = types.index("alarm")
    assert "exec" in types[first_alarm:]  # printed as found, not only at the end
    assert err.strip().endswith("8 alarms (6 certain, 2 suspicious)")
    code, out, err = invoke("review", "--format", "jsonl", "--no-alarms", str(CONFIG_LOG))
    assert {o["type"] for o in objects(out)} == {"exec"} and "alarm" not in err


def test_review_time_window_limits_alarms() -> None:
    found = scan_logs([str(CONFIG_LOG)])[0]
    start = found[-1].time.isoformat()
    _code, out, _ = invoke("review", "--format", "jsonl", "--start", start, str(CONFIG_LOG))
    assert [o["kind"] for o in objects(out) if o["type"] == "alarm"] == ["collector-stopped"]


def test_check_procs_runs_on_a_log() -> None:
    code, out, err = invoke("check-procs", "--format", "jsonl", str(WORKLOAD_LOG))
    assert code in (0, 3)
    assert "processes started while the trail was recorded" in err
    assert all(o["type"] == "alarm" for o in objects(out))
