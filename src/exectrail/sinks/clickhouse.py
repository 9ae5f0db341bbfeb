"""ClickHouse sink over plain HTTP (``http.client``): works with Debian's 18.16 server and newer.

The table is created on first use (``CREATE TABLE IF NOT EXISTS``) as a ``ReplacingMergeTree``
partitioned by month and ordered by ``(host, time, id)``, so rows delivered twice (at-least-once)
collapse on merge; query with ``FINAL`` (or ``uniqExact(id)``) for exact counts before merges run.
Exec events fill the columns; other message types (alarms, heartbeats) keep ``id``, ``host``,
``type``, ``time`` and put their whole JSON in ``body``. ``DateTime`` holds 1970 to 2106 only: an exec
stamped outside (a forged or broken time) gets a wrapped ``time`` and its whole JSON in ``body`` too.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson

from exectrail.errors import UsageError
from exectrail.jsonform import object_text
from exectrail.schema import BY_NAME, EVENT_FIELDS, OBJECT, clickhouse_columns
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.net import cannot_resolve, describe_io_error
from exectrail.sinks.spec import TIMEOUT, Param, SinkKind, SinkSpec

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


RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


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


def to_row(message: Message) -> dict[str, Any]:
    """The JSONEachRow object for one message."""
    body = message.body
    when, ms = split_time(body.get("time"))
    row: dict[str, Any] = {"id": message.id, "host": body.get("host") or "", "type": body.get("type") or "",
                           "time": when, "time_ms": ms}  # fmt: skip
    if row["type"] != "exec" or not _fits_datetime(when):
        row["body"] = message.json.decode()  # an exec past 2105 keeps its true time here
        if row["type"] != "exec":
            return row
    for name in EXEC_FIELDS:
        row[name] = body.get(name)
    for name in LISTS:
        row[name] = body.get(name) or []
    for name in OBJECTS:
        value = body.get(name)
        row[name] = None if value is None else object_text(value)
    return row


class ClickHouseSink:
    """Inserts batches into ``DATABASE.TABLE`` with ``INSERT … FORMAT JSONEachRow``."""

    lossy = False
    # ClickHouse wants few, large inserts (each one is a new part to merge): at most ~1 per second.
    tuning_hints: ClassVar[dict[str, Any]] = {"batch_events": 20_000, "batch_bytes": 16 << 20, "linger": 1.0}

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self._host, self._port = spec.host, spec.port
        self._timeout = spec.timeout()
        self.table = f"{spec.path or DATABASE}.{TABLE.value(spec)}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if spec.user is not None:
            token = base64.b64encode(f"{spec.user}:{spec.password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._table_ready = False

    def create_table_sql(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.table} ({' '.join(COLUMNS.split())}) {ENGINE}"

    def upgrade_table(self) -> None:
        """Bring a table made by an older exectrail up to :data:`COLUMNS` (new columns added at the
        end, SYSCALL fields made Nullable), so that no value of the JSON is refused or dropped."""
        database, _, table = self.table.partition(".")
        sql = (
            "SELECT name, type FROM system.columns WHERE database = '{}' AND table = '{}' FORMAT TabSeparated"
        ).format(database.replace("'", "\\'"), table.replace("'", "\\'"))
        have = dict(line.split("\t", 1) for line in self.query(sql).decode().splitlines() if "\t" in line)
        if "argv_hex" not in have:  # not a table exectrail made: leave it alone (the insert says why)
            return
        changes = []
        for name, kind in wanted_columns():
            if name not in have:
                changes.append(f"ADD COLUMN {name} {kind}")
            elif have[name] != kind and kind == f"Nullable({have[name]})":
                changes.append(f"MODIFY COLUMN {name} {kind}")
        if changes:
            try:
                self.query(f"ALTER TABLE {self.table} {', '.join(changes)}", None, **DDL_SETTINGS)
            except SinkError as exc:  # without them ClickHouse would store null ids as 0: refuse instead
                raise SinkError(
                    f"table {self.table} was made by an older exectrail and could not be upgraded ({exc}); "
                    "add the missing columns or use another table (?table=NAME)"
                ) from None

    def send(self, batch: Sequence[Message]) -> int:
        if not self._table_ready:
            self.query(self.create_table_sql(), None, **DDL_SETTINGS)
            self.upgrade_table()
            self._table_ready = True
        data = b"\n".join(orjson.dumps(to_row(m)) for m in batch)
        self.query(f"INSERT INTO {self.table} FORMAT JSONEachRow", data, input_format_skip_unknown_fields=1)
        return 0

    def query(self, sql: str, data: bytes | None = None, **settings: object) -> bytes:
        """Run one statement (``data`` is the INSERT payload); return the response body."""
        params = dict(settings)
        if data is None:
            data = sql.encode()
        else:
            params["query"] = sql
        target = "/?" + urlencode(params) if params else "/"
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                status, reply = self._post(target, data)
                break
            except RETRYABLE as exc:  # an idle keep-alive connection the server closed: retry once
                self.close()
                if not reused or attempt == 2:
                    raise SinkError(self._io_error(exc)) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise SinkError(self._io_error(exc)) from None
        if status != 200:
            first = reply.decode("utf-8", "replace").strip().splitlines()
            raise SinkError(f"ClickHouse refused ({status}): {first[0] if first else 'no reason given'}")
        return reply

    def _post(self, target: str, data: bytes) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        self._conn.request("POST", target, body=data, headers=self._headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def _io_error(self, exc: BaseException) -> str:
        where = f"{self._host}:{self._port}"
        if isinstance(exc, socket.gaierror):
            return cannot_resolve(self._host, exc)
        if isinstance(exc, http.client.RemoteDisconnected):
            return f"ClickHouse at {where} closed the connection without answering"
        return f"ClickHouse at {where}: {describe_io_error(exc, self._timeout)}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


PORT = 8123
DATABASE = "default"  # when the URL has no /DATABASE
TABLE = Param("table", "the table events go to (created when missing)", "exec_events")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_names(spec: SinkSpec) -> None:
    """The database and table names go into SQL unquoted: plain identifiers only."""
    for what, name in (("database", spec.path or DATABASE), ("table", TABLE.value(spec))):
        if not IDENTIFIER.match(name):
            raise UsageError(f"--sink {spec.display}: {what} name {name!r} is not a plain identifier")


KINDS = (
    SinkKind("clickhouse+http", f"clickhouse+http://[USER[:PASSWORD]@]HOST[:{PORT}]/DATABASE?table=NAME",
             ClickHouseSink, (TIMEOUT, TABLE), default_port=PORT, check=check_names),
)  # fmt: skip

__all__ = ["KINDS", "TABLE", "ClickHouseSink", "split_time", "to_row"]
