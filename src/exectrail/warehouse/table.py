"""The fleet table in ClickHouse: its columns (from :mod:`exectrail.schema`), DDL, upgrades and rows.

One table holds every message a host forwards: exec events fill the columns; other message types
(alarms, heartbeats) keep ``id``, ``host``, ``type``, ``time`` and put their whole JSON in ``body``.
It is a ``ReplacingMergeTree`` partitioned by month and ordered by ``(host, time, id)``: the fleet's
questions name a host and a time range, and rows delivered twice (at-least-once) collapse on merge
(queries that count use ``FINAL`` or ``uniqExact(id)`` until merges run). ``DateTime`` holds 1970 to
2106 only: an exec stamped outside (a forged or broken time) gets a wrapped ``time`` and its whole JSON
in ``body`` too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

import orjson

from exectrail.jsonform import object_text
from exectrail.schema import BY_NAME, EVENT_FIELDS, OBJECT, clickhouse_columns
from exectrail.warehouse.client import ClickHouseClient, Payload, WarehouseError, literal

#: Columns every message has (exec events, alarms, heartbeats); ``body`` holds the JSON of the rest.
ENVELOPE = (("id", "String"), ("host", "String"), ("type", "String"), ("time", "DateTime('UTC')"),
            ("time_ms", "UInt16"))  # fmt: skip
#: Exec columns that the first tables lacked, in the order the upgrade adds them (after ``body``);
#: fields added to the schema since (``script``, ``fileless``…) follow in the schema's order.
ADDED_LATER = ("incomplete", "node_hex", "tty_hex", "comm_hex", "exe_hex", "cwd_hex", "path_hex", "key_hex",
               "proctitle_hex")  # fmt: skip
#: ClickHouse before 19.x calls ``LowCardinality`` experimental and refuses it without this setting
#: (newer servers accept it as an obsolete one that does nothing).
DDL_SETTINGS = {"allow_experimental_low_cardinality_type": 1}


def wanted_columns() -> list[tuple[str, str]]:
    """(name, ClickHouse type) of every column, in table order: the envelope, the exec columns of
    :mod:`exectrail.schema` the first tables had, ``body``, then those added since (:data:`ADDED_LATER`
    first, then any newer field of the schema, in its order)."""
    exec_columns = clickhouse_columns()
    types = dict(exec_columns)
    first = [
        (name, kind) for name, kind in exec_columns if name not in ADDED_LATER and _in_first_tables(name)
    ]
    later = [(name, types[name]) for name in ADDED_LATER if name in types]
    known = {name for name, _ in first} | set(ADDED_LATER)
    newer = [(name, kind) for name, kind in exec_columns if name not in known]
    return [*ENVELOPE, *first, ("body", "String"), *later, *newer]


def _in_first_tables(name: str) -> bool:
    """Whether the first tables had this column: the fields of the first two store schemas did."""
    field = BY_NAME.get(name) or BY_NAME[name.removesuffix("_hex")]
    return field.store <= 2


#: The table's columns as ``CREATE TABLE`` lists them.
COLUMNS = ", ".join(f"{name} {kind}" for name, kind in wanted_columns())
ENGINE = "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(time) ORDER BY (host, time, id)"
_NOT_EXEC = {name for name, _ in ENVELOPE} | {"body"}
#: The exec fields copied from the JSON as they are; ``LISTS`` (``argv``, ``argv_hex``) default to [].
LISTS = tuple(name for name, kind in wanted_columns() if kind.startswith("Array("))
#: Objects (``parent``, ``exe_hash``, ``env``) go in as their JSON text, keys sorted as the store has them.
OBJECTS = tuple(f.name for f in EVENT_FIELDS if f.kind == OBJECT and f.clickhouse is not None)
EXEC_FIELDS = tuple(
    name
    for name, _ in wanted_columns()
    if name not in _NOT_EXEC and name not in LISTS and name not in OBJECTS
)


def split_time(value: object) -> tuple[int | str, int]:
    """``2026-11-25T14:40:47.506Z`` → (``2026-11-25 14:40:47``, 506); other forms via fromisoformat."""
    if isinstance(value, str):
        if len(value) == 24 and value[10] == "T" and value[19] == "." and value[23] == "Z":
            return f"{value[:10]} {value[11:19]}", int(value[20:23])
        try:
            parsed = datetime.fromisoformat(value)
            return int(parsed.timestamp()), parsed.microsecond // 1000
        except ValueError:
            pass
    return 0, 0


def _fits_datetime(when: int | str) -> bool:
    """Can ClickHouse's ``DateTime`` (1970 to 2106, seconds in 32 bits) hold ``when``? It would wrap."""
    if isinstance(when, int):
        return 0 < when < 2**32
    return "1970" <= when[:4] <= "2105" and when != "1970-01-01 00:00:00"


class Forwarded(Protocol):
    """What the sink forwards (:class:`exectrail.sinks.base.Message`): an id, the body and its JSON."""

    id: str
    body: dict[str, Any]
    json: bytes


#: Every exec column's value when the message lacks it (lists empty, the rest NULL), copied per row.
_EXEC_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(EXEC_FIELDS), **{name: [] for name in LISTS}, **dict.fromkeys(OBJECTS)
}  # fmt: skip


def to_row(message: Forwarded) -> dict[str, Any]:
    """The JSONEachRow object for one message.

    An exec row is the body laid over :data:`_EXEC_DEFAULTS` (two C-level dict copies, not a Python
    loop over ~60 columns: this runs once per forwarded event); the body's keys are the table's
    columns (tests/unit/test_schema.py), and one the table lacks is skipped by the insert's
    ``input_format_skip_unknown_fields``."""
    body = message.body
    when, ms = split_time(body.get("time"))
    kind = body.get("type") or ""
    if kind != "exec" or not _fits_datetime(when):
        row: dict[str, Any] = {"id": message.id, "host": body.get("host") or "", "type": kind,
                               "time": when, "time_ms": ms, "body": message.json.decode()}  # fmt: skip
        if kind != "exec":
            return row
        # an exec past 2105 keeps its true time in body, and its columns as any exec
    else:
        row = {"id": message.id, "host": body.get("host") or "", "type": kind, "time": when, "time_ms": ms}
    row.update(_EXEC_DEFAULTS)
    row.update(body)
    row["id"], row["host"], row["type"], row["time"] = message.id, body.get("host") or "", kind, when
    for name in LISTS:
        if row[name] is None:
            row[name] = []
    for name in OBJECTS:
        value = row[name]
        if value is not None:
            row[name] = object_text(value)
    return row


_EXEC_PREFIX = b'{"type":"exec","time":"'
_NULL_LISTS = tuple((name, b'"%s":null' % name.encode(), b'"%s":[]' % name.encode()) for name in LISTS)


def row_json(message: Forwarded) -> bytes:
    """:func:`to_row` as one JSONEachRow line, made from the message's JSON where it can be.

    An exec event as the sink builds it (``{"type":"exec","time":"…Z",…``) gets its time split, its
    objects turned into their JSON text and its null lists made ``[]`` in place: a few byte searches
    instead of a dict of ~70 columns and its serialization (this runs once per forwarded event).
    Columns its JSON lacks take the table's defaults (NULL, ``[]``), which is what :func:`to_row`
    sends for them. Any other message goes through :func:`to_row`."""
    spliced = _spliced(message.json, message.body)
    return orjson.dumps(to_row(message)) if spliced is None else spliced


def _spliced(data: bytes, body: dict[str, Any]) -> bytes | None:
    when = data[23:47]
    if not (
        data.startswith(_EXEC_PREFIX)
        and data[47:49] == b'",'
        and when[10:11] == b"T"
        and when[19:20] == b"."
        and when[23:] == b"Z"
        and b"1970" <= when[:4] <= b"2105"
        and when[:19] != b"1970-01-01T00:00:00"
        and isinstance(body.get("host"), str)
    ):
        return None
    row = b'%s%s %s","time_ms":%d%s' % (_EXEC_PREFIX, when[:10], when[11:19], int(when[20:23]), data[48:])
    objects = row.find(b'"parent":{')  # list names recur inside the parent object: look before it
    for name, null, empty in _NULL_LISTS:
        if name in body and body[name] is None:
            at = row.find(null)
            if at < 0 or 0 <= objects < at:
                return None
            row = row[:at] + empty + row[at + len(null) :]
    for name in OBJECTS:
        value = body.get(name)
        if value is not None:
            key = b'"%s":' % name.encode()
            old = key + orjson.dumps(value)
            at = row.find(old)
            if at < 0:
                return None
            row = row[:at] + key + orjson.dumps(object_text(value)) + row[at + len(old) :]
    return row


DEFAULT_DATABASE = "default"
DEFAULT_TABLE = "exec_events"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def create_table_sql(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``table`` (``DATABASE.NAME``)."""
    return f"CREATE TABLE IF NOT EXISTS {table} ({' '.join(COLUMNS.split())}) {ENGINE}"


def upgrade_table(client: ClickHouseClient, table: str) -> None:
    """Bring a table made by an older exectrail up to :data:`COLUMNS` (new columns added at the end,
    SYSCALL fields made Nullable), so that no value of the JSON is refused or dropped."""
    database, _, name = table.partition(".")
    sql = (
        f"SELECT name, type FROM system.columns WHERE database = {literal(database)} "
        f"AND table = {literal(name)} FORMAT TabSeparated"
    )
    have = dict(line.split("\t", 1) for line in client.query(sql).decode().splitlines() if "\t" in line)
    if "argv_hex" not in have:  # not a table exectrail made: leave it alone (the insert says why)
        return
    changes = []
    for column, kind in wanted_columns():
        if column not in have:
            changes.append(f"ADD COLUMN {column} {kind}")
        elif have[column] != kind and kind == f"Nullable({have[column]})":
            changes.append(f"MODIFY COLUMN {column} {kind}")
    if changes:
        try:
            client.query(f"ALTER TABLE {table} {', '.join(changes)}", None, **DDL_SETTINGS)
        except WarehouseError as exc:  # without them ClickHouse would store null ids as 0: refuse instead
            raise WarehouseError(
                f"table {table} was made by an older exectrail and could not be upgraded ({exc}); "
                "add the missing columns or use another table (?table=NAME)"
            ) from None


#: The words of an exec row as the word index keeps them: the command line (or a failed exec's path)
#: in lower case cut at every character that is not a letter or digit, each word once. The store's
#: full-text index (SQLite FTS5 ``unicode61``) also removes accents; ClickHouse 18.16 cannot.
ROW_WORDS = (
    "arrayReduce('groupUniqArray', extractAll(lowerUTF8(concat(arrayStringConcat(argv, ' '), ' ', "
    "ifNull(path, ''))), '[\\\\pL\\\\pN]+'))"
)


def words_table(table: str) -> str:
    """The word index of ``table``: one row per (word, exec row), ordered by word."""
    return f"{table}_words"


def words_ddl(table: str) -> list[str]:
    """The word index and the materialized view that fills it on every insert into ``table``.

    ClickHouse 18.16 has no token skip index (``tokenbf_v1`` came in 19.x); this is its equivalent
    by hand: a search for a word reads the index's range for that word (ordered by word, host,
    time), not every command line of the fleet."""
    words = words_table(table)
    return [
        f"CREATE TABLE IF NOT EXISTS {words} (word String, host String, time DateTime('UTC'), id String) "
        "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(time) ORDER BY (word, host, time, id)",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {words}_mv TO {words} AS SELECT arrayJoin({ROW_WORDS}) "
        f"AS word, host, time, id FROM {table} WHERE type = 'exec'",
    ]


def table_exists(client: ClickHouseClient, table: str) -> bool:
    database, _, name = table.partition(".")
    sql = (
        f"SELECT count() FROM system.tables WHERE database = {literal(database)} "
        f"AND name = {literal(name)} FORMAT TabSeparated"
    )
    return client.query(sql).strip() not in (b"", b"0")


def ensure_table(client: ClickHouseClient, table: str) -> None:
    """Create ``table`` and its word index when missing, upgrade a table an older exectrail made,
    and index the words of the rows it already holds when the index is new."""
    client.query(create_table_sql(table), None, **DDL_SETTINGS)
    upgrade_table(client, table)
    if table_exists(client, words_table(table)):
        return
    for statement in words_ddl(table):
        client.query(statement)
    # rows inserted since the view exists are indexed twice: harmless (the index merges them away)
    client.query(
        f"INSERT INTO {words_table(table)} SELECT arrayJoin({ROW_WORDS}) AS word, host, time, id "
        f"FROM {table} WHERE type = 'exec'"
    )


def insert_rows(client: ClickHouseClient, table: str, rows: Payload) -> None:
    """Insert ``rows`` (JSONEachRow lines from :func:`to_row` or :func:`row_json`; pieces end with a
    newline)."""
    client.query(f"INSERT INTO {table} FORMAT JSONEachRow", rows, input_format_skip_unknown_fields=1)


__all__ = [
    "COLUMNS", "DEFAULT_DATABASE", "DEFAULT_TABLE", "ENGINE", "LISTS", "OBJECTS", "ROW_WORDS",
    "create_table_sql", "ensure_table", "insert_rows", "row_json", "split_time", "table_exists", "to_row",
    "upgrade_table", "wanted_columns", "words_ddl", "words_table",
]  # fmt: skip
