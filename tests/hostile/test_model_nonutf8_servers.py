"""Non-UTF-8 text and incomplete events through the real receivers: rsyslog and ClickHouse (18.16).

A ClickHouse table made by an older exectrail (non-Nullable SYSCALL columns, no ``incomplete`` or
``*_hex`` columns) is brought up to date on first use, so nothing the JSON shows is refused or dropped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from exectrail.model import ExecEvent
from exectrail.schema import HEX_TEXT_FIELDS
from exectrail.sinks import SinkSet, Tuning
from exectrail.timefmt import timestamp_to_datetime
from tests.support.nonutf8 import BAD, bad_event
from tests.support.servers import ClickHouse, Rsyslog, clickhouse, live_rsyslog, rsyslog  # noqa: F401  (fixtures)

pytestmark = pytest.mark.server
FAST = Tuning(retry_initial=0.05, retry_max=0.5)
SYSCALL_FIELDS = ("arch", "syscall", "success", "exit", "pid", "ppid", "uid", "euid", "suid", "fsuid", "gid",
                  "egid", "sgid", "fsgid")  # fmt: skip

#: The table exectrail made before events could be incomplete (commit 8743682).
OLD_COLUMNS = """
    id String, host String, type String, time DateTime('UTC'), time_ms UInt16,
    serial UInt64, node Nullable(String), arch String, syscall String, success UInt8, exit Int64,
    pid UInt32, ppid UInt32, uid UInt32, euid UInt32, suid UInt32, fsuid UInt32,
    gid UInt32, egid UInt32, sgid UInt32, fsgid UInt32, auid Nullable(UInt32), ses Nullable(UInt32),
    tty Nullable(String), comm Nullable(String), exe Nullable(String), cwd Nullable(String),
    path Nullable(String), argc Nullable(UInt32), argv Array(String), argv_hex Array(String),
    key Nullable(String), proctitle Nullable(String), body String
"""
OLD_ENGINE = "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(time) ORDER BY (host, time, id)"


def events() -> list[ExecEvent]:
    lost = replace(bad_event(21), node="n1", incomplete=True, **dict.fromkeys(SYSCALL_FIELDS))  # type: ignore[arg-type]
    return [bad_event(20), lost, replace(bad_event(22), node="n1", exit=-(2**63), pid=2**32 - 1)]


def forward(url: str, spool: Path, host: str) -> None:
    warnings: list[str] = []
    sinks = SinkSet.from_urls([url], spool, host=host, warn=warnings.append, tuning=FAST)
    for event in events():
        sinks.submit(event)
    [summary] = sinks.close(30)
    assert (summary.delivered, summary.dropped, summary.pending) == (3, 0, 0) and not warnings, (
        summary,
        warnings,
    )


@pytest.mark.parametrize("old_table", [False, True])
def test_clickhouse_keeps_bytes_nulls_and_incomplete(
    clickhouse: ClickHouse,  # noqa: F811
    tmp_path: Path,
    old_table: bool,
) -> None:
    table = f"nonutf8_{int(old_table)}"
    if old_table:
        clickhouse.query(f"CREATE TABLE default.{table} ({' '.join(OLD_COLUMNS.split())}) {OLD_ENGINE}")
    forward(clickhouse.url(table=table), tmp_path, "ch-host")
    by_serial = {int(r["serial"]): r for r in clickhouse.rows(f"SELECT * FROM default.{table}")}
    assert set(by_serial) == {20, 21, 22}
    want = {e.serial: e for e in events()}
    for serial, row in by_serial.items():
        event = want[serial]
        assert row["incomplete"] == int(event.incomplete)
        for name in HEX_TEXT_FIELDS:
            raw = getattr(event, name).encode("utf-8", "surrogateescape")
            assert row[f"{name}_hex"] == (
                raw.hex() if raw != raw.decode("utf-8", "replace").encode() else None
            )
        assert bytes.fromhex(row["exe_hex"]).decode("utf-8", "surrogateescape") == f"{BAD}-exe"
        got = {name: row[name] for name in ("pid", "ppid", "uid", "success", "arch")}
        if event.incomplete:
            assert set(got.values()) == {None}
        else:
            assert got["pid"] == event.pid and got["arch"] == event.arch
    assert int(by_serial[22]["exit"]) == -(2**63)


def test_syslog_carries_the_exact_bytes(live_rsyslog: Rsyslog, tmp_path: Path) -> None:  # noqa: F811
    forward(live_rsyslog.tcp_url, tmp_path, "nonutf8-host")
    live_rsyslog.wait_for("nonutf8-host", 3)
    bodies = live_rsyslog.bodies("nonutf8-host")
    got = [ExecEvent.from_dict(b) for b in bodies]
    assert got == events()


def test_clickhouse_keeps_times_its_datetime_cannot_hold(clickhouse: ClickHouse, tmp_path: Path) -> None:  # noqa: F811
    """DateTime wraps outside 1970..2106: such an exec keeps its JSON (and true time) in ``body``."""
    times = {1: timestamp_to_datetime(253402300799, 999), 2: timestamp_to_datetime(0, 0),
             3: timestamp_to_datetime(1795618246, 518)}  # fmt: skip
    sinks = SinkSet.from_urls([clickhouse.url(table="far_times")], tmp_path, host="h", tuning=FAST)
    for serial, when in times.items():
        sinks.submit(replace(bad_event(serial), time=when))
    [summary] = sinks.close(30)
    assert (summary.delivered, summary.dropped) == (3, 0)
    rows = {int(r["serial"]): r for r in clickhouse.rows("SELECT serial, body FROM default.far_times")}
    assert {s: ExecEvent.from_dict(orjson.loads(r["body"])).time for s, r in rows.items() if r["body"]} == {
        1: times[1],
        2: times[2],
    }
    assert rows[3]["body"] == ""


def test_clickhouse_table_that_cannot_be_upgraded_is_named(clickhouse: ClickHouse, tmp_path: Path) -> None:  # noqa: F811
    """An old table ClickHouse cannot ALTER (TinyLog here; a user without the right, elsewhere): the
    events wait in the spool with a reason, rather than going in with null ids stored as 0."""
    clickhouse.query(f"CREATE TABLE default.frozen ({' '.join(OLD_COLUMNS.split())}) ENGINE = TinyLog")
    warnings: list[str] = []
    sinks = SinkSet.from_urls([clickhouse.url(table="frozen")], tmp_path, host="h", warn=warnings.append,
                              tuning=FAST)  # fmt: skip
    sinks.submit(bad_event(30))
    [summary] = sinks.close(1)
    assert (summary.delivered, summary.pending) == (0, 1)
    assert "default.frozen was made by an older exectrail and could not be up" in str(summary.last_error)
    assert clickhouse.query("SELECT count() FROM default.frozen").strip() == "0"
