"""The schema is declared once (exectrail.schema): everything derived from it stays in step with it.

A field added to ``schema.EVENT_FIELDS`` but not to ``ExecEvent``, the table of docs/schema.md or a store
migration fails here, as does a field added to ``ExecEvent`` but not to the schema.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from exectrail import jsonform, schema
from exectrail.model import Alarm, ExecEvent
from exectrail.output.writers import JsonlWriter
from exectrail.sinks import clickhouse
from exectrail.sinks.base import Message
from exectrail.store import codec
from exectrail.store.schema import migrate
from tests.support.paths import DOCS

SCHEMA_PAGE = DOCS / "schema.md"
T = datetime(2026, 11, 25, 14, 40, 47, 506000, tzinfo=UTC)
BAD = b"/tmp/ev\xffil".decode("utf-8", "surrogateescape")


def test_the_schema_page_table_is_the_schema() -> None:
    """docs/schema.md shows exactly :func:`schema.markdown_table`; paste its output when this fails."""
    table = schema.markdown_table()
    assert table in SCHEMA_PAGE.read_text(encoding="utf-8"), "docs/schema.md's table is stale:\n" + table


def test_markdown_table_names_every_json_key() -> None:
    table = schema.markdown_table()
    for name in schema.JSON_COLUMNS:
        assert f"`{name}`" in table


def test_exec_event_has_the_schema_attributes_with_their_types() -> None:
    declared = [(f.name, f.python) for f in schema.EVENT_FIELDS if f.python is not None]
    assert [(f.name, f.type) for f in dataclasses.fields(ExecEvent)] == declared


def _event(**changes: object) -> ExecEvent:
    values: dict[str, object] = {name: None for name in schema.ATTRIBUTES}
    values.update(
        time=T, serial=7, incomplete=False, comm="ls", exe="/bin/ls", argv=(b"ls", b"-l"), fileless=()
    )
    values.update(changes)
    return ExecEvent(**values)  # type: ignore[arg-type]


EVENTS = [
    _event(),
    _event(node=BAD, exe=BAD, argv=(b"\xff", b"x"), key="k", success=False, exit=-2, incomplete=True),
    _event(exe="/usr/bin/python3", argv=(b"python3", b"x.py"), script="/tmp/x.py", fileless=("scratch-dir",)),
    _event(exe=f"/memfd:{BAD} (deleted)", script=f"/dev/fd/3/{BAD}", fileless=("memfd", "fd", "loader")),
    _event(**{name: f"{BAD}-{name}" for name in schema.HEX_TEXT_FIELDS}),
    _event(
        arch="x86_64", syscall="execve", success=True, exit=0, pid=1, ppid=0, uid=0, auid=4294967295, argv=()
    ),
    _event(  # every context field set, objects with a companion inside
        fileless=("memfd", "deleted"),
        script="/tmp/x.sh",
        exec_id="0" * 32,
        parent_exec_id="1" * 32,
        parent={
            "exec_id": "1" * 32,
            "pid": 9,
            "exe": "\ufffd",
            "exe_hex": "ff",
            "argv": ["sh"],
            "time": "2026-11-25T14:40:47.506Z",
            "source": "trail",
        },
        uid_name="root",
        euid_name=BAD,
        auid_name=None,
        gid_name="root",
        names_source="auditd",
        cgroup="/system.slice/x.service",
        systemd_unit="x.service",
        container_id="a" * 64,
        container_runtime="docker",
        cgroup_source="inherited",
        exe_hash={
            "sha256": "b" * 64,
            "dev": "fd:01",
            "inode": 5,
            "mtime": "2026-11-25T14:40:47.506Z",
            "ctime": "2026-11-25T14:40:47.506Z",
            "hashed_at": "2026-11-25T14:40:48.000Z",
        },
        env={"LD_PRELOAD": "/tmp/evil.so"},
        env_missing=None,
        exe_hash_missing=None,
    ),
]


@pytest.mark.parametrize("event", EVENTS)
def test_to_dict_is_the_jsonl_object_and_its_keys_are_attributes(event: ExecEvent) -> None:
    out: list[bytes] = []

    class Sink:
        def write(self, data: bytes) -> None:
            out.append(data)

        def flush(self) -> None:
            pass

    writer = JsonlWriter(Sink())  # type: ignore[arg-type]
    writer.write(event)
    writer.close()
    assert orjson.loads(b"".join(out)) == event.to_dict() == jsonform.event_to_dict(event)
    as_json = event.to_dict()
    assert list(as_json) == [c for c in schema.JSON_COLUMNS if c in as_json]
    for name in schema.JSON_COLUMNS:
        assert hasattr(event, name), name
        value = getattr(event, name)
        if name.endswith("_hex") or name == "type":
            assert value == as_json.get(name), name
        elif schema.BY_NAME[name].kind in (schema.INT, schema.BOOL, schema.NAME):
            assert value == as_json[name], name


def test_alarm_to_dict_keys_follow_the_alarm_schema() -> None:
    alarm = Alarm("rules-removed", T, f"by {BAD}", host=BAD, details={"exe": BAD}, evidence=(BAD, "ok"))
    as_json = alarm.to_dict()
    assert as_json == jsonform.alarm_to_dict(alarm)
    assert list(as_json) == [c for c in schema.ALARM_JSON_COLUMNS if c in as_json]
    assert {"host_hex", "summary_hex", "evidence_hex"} <= set(as_json)


def test_a_migrated_store_has_exactly_the_declared_columns(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    migrate(conn)
    info = conn.execute("PRAGMA table_info(events)").fetchall()
    conn.close()
    got = [(name, kind, bool(notnull), default) for _, name, kind, notnull, default, _ in info]
    want = [(f.column, f.sql_type, not f.nullable, f.default) for f in schema.STORED]
    # columns added by ALTER TABLE (schema 4 on) come after digest and chain: SQLite appends them
    assert [g for g in got if g[0] not in ("seq", "digest", "chain")] == want
    names = [g[0] for g in got]
    assert names[0] == "seq" and names[names.index("digest") :][:2] == ["digest", "chain"]
    assert names[names.index("chain") + 1 :] == [f.column for f in schema.STORED if f.store >= 4]
    assert tuple(w[0] for w in want) == codec.COLUMNS


def test_the_generated_codec_is_the_schema_in_order() -> None:
    for i, f in enumerate(schema.STORED):
        assert f"# {f.column}\n" in codec.EVENT_TO_ROW_SOURCE.splitlines(keepends=True)[2 + i]
    assert codec._DRAFT_OK
    for i, name in enumerate(schema.ATTRIBUTES):
        assert codec.ROW_TO_EVENT_SOURCE.splitlines()[4 + i].startswith(f"    e.{name} = ")


def test_the_keyword_fallback_builds_the_same_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a draft cannot take ExecEvent's class, row_to_event calls ``ExecEvent(name=…)``."""
    monkeypatch.setattr(codec, "_DRAFT_OK", False)
    source = codec._row_to_event_source()
    assert "return ExecEvent(\n" in source and "        incomplete=bool(r[28]),\n" in source
    assert "        fileless=unpack_names(r[30]),\n" in source
    fallback = codec._compile(source, "row_to_event", "")
    event = _event(exe=BAD, argv=(b"\xff",), success=True, exit=0, pid=5, script=BAD, fileless=("fd",))
    row = codec.event_to_row(event)
    assert fallback(row) == codec.row_to_event(row) == event
    assert type(codec.row_to_event(row)) is ExecEvent


@pytest.mark.parametrize("event", EVENTS)
def test_codec_and_json_round_trip(event: ExecEvent) -> None:
    assert codec.row_to_event(codec.event_to_row(event)) == event
    assert ExecEvent.from_dict(orjson.loads(orjson.dumps(event.to_dict()))) == event


def test_clickhouse_table_is_the_schema_and_keeps_its_column_order() -> None:
    columns = clickhouse.wanted_columns()
    assert set(schema.clickhouse_columns()) <= set(columns)
    assert [name for name, _ in columns] == [
        "id", "host", "type", "time", "time_ms", "serial", "node", "arch", "syscall", "success", "exit",
        "pid", "ppid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "auid", "ses",
        "tty", "comm", "exe", "cwd", "path", "argc", "argv", "argv_hex", "key", "proctitle", "body",
        "incomplete", "node_hex", "tty_hex", "comm_hex", "exe_hex", "cwd_hex", "path_hex", "key_hex",
        "proctitle_hex", "script", "script_hex", "fileless", "exec_id", "parent_exec_id", "parent",
        "uid_name", "uid_name_hex", "euid_name", "euid_name_hex", "auid_name", "auid_name_hex", "gid_name",
        "gid_name_hex", "names_source", "cgroup", "cgroup_hex", "systemd_unit", "systemd_unit_hex",
        "container_id", "container_runtime", "cgroup_source", "exe_hash", "exe_hash_missing", "env",
        "env_missing",
    ]  # fmt: skip
    assert dict(columns)["fileless"] == "Array(LowCardinality(String))"
    assert dict(columns)["parent"] == dict(columns)["exe_hash"] == dict(columns)["env"] == "Nullable(String)"
    body = {**_event(exe=BAD, argv=(b"\xff",)).to_dict(), "id": "x", "host": "h"}
    row = clickhouse.to_row(Message(body))
    for name in schema.JSON_COLUMNS:
        if name in ("type", "time"):
            continue
        if name in clickhouse.OBJECTS:  # JSON text with sorted keys, or NULL
            value = body.get(name)
            assert row[name] == (
                None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            )
            continue
        assert row[name] == (body.get(name) or [] if name in clickhouse.LISTS else body.get(name)), name
