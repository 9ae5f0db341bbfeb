"""ClickHouse sink: batches of messages inserted into the fleet table (:mod:`exectrail.warehouse.table`)
with ``INSERT … FORMAT JSONEachRow`` over HTTP; works with Debian's 18.16 server and newer.

The table is created on first use and upgraded when an older exectrail made it. Rows delivered twice
(at-least-once) share their ``id`` and collapse on merge.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from exectrail.errors import UsageError
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.spec import TIMEOUT, Param, SinkKind, SinkSpec, parse_url
from exectrail.warehouse.client import ClickHouseClient, Payload, WarehouseError
from exectrail.warehouse.source import Fleet
from exectrail.warehouse.table import (
    DEFAULT_DATABASE,
    DEFAULT_TABLE,
    IDENTIFIER,
    LISTS,
    OBJECTS,
    ensure_table,
    insert_rows,
    row_json,
    split_time,
    to_row,
    wanted_columns,
)


class ClickHouseSink:
    """Inserts batches into ``DATABASE.TABLE`` with ``INSERT … FORMAT JSONEachRow``."""

    lossy = False
    # ClickHouse wants few, large inserts (each one is a new part to merge): at most ~1 per second.
    tuning_hints: ClassVar[dict[str, Any]] = {"batch_events": 20_000, "batch_bytes": 16 << 20, "linger": 1.0}

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self.table = table_name(spec)
        self.client = client_for(spec)
        self._table_ready = False

    def send(self, batch: Sequence[Message]) -> int:
        try:
            if not self._table_ready:
                ensure_table(self.client, self.table)
                self._table_ready = True
            insert_rows(self.client, self.table, lambda: pieces(batch))
        except WarehouseError as exc:
            raise SinkError(str(exc)) from None
        return 0

    def query(self, sql: str, data: Payload | None = None, **settings: object) -> bytes:
        """Run one statement on the sink's server (tests and benches use it)."""
        try:
            return self.client.query(sql, data, **settings)
        except WarehouseError as exc:
            raise SinkError(str(exc)) from None

    def close(self) -> None:
        self.client.close()


#: Rows per piece of an insert: the server parses one piece while the next is built.
PIECE_ROWS = 1000


def pieces(batch: Sequence[Message]) -> Iterator[bytes]:
    """A batch as JSONEachRow pieces of :data:`PIECE_ROWS` lines, made as they are sent."""
    for start in range(0, len(batch), PIECE_ROWS):
        yield b"".join([row_json(m) + b"\n" for m in batch[start : start + PIECE_ROWS]])


def client_for(spec: SinkSpec) -> ClickHouseClient:
    """A client for the server of a ``clickhouse+http://`` URL."""
    return ClickHouseClient(
        spec.host, spec.port, user=spec.user, password=spec.password, timeout=spec.timeout()
    )


PORT = 8123
DATABASE = DEFAULT_DATABASE  # when the URL has no /DATABASE
TABLE = Param("table", "the table events go to (created when missing)", DEFAULT_TABLE)


def table_name(spec: SinkSpec) -> str:
    """``DATABASE.TABLE`` of a ``clickhouse+http://`` URL."""
    return f"{spec.path or DATABASE}.{TABLE.value(spec)}"


def check_names(spec: SinkSpec) -> None:
    """The database and table names go into SQL unquoted: plain identifiers only."""
    for what, name in (("database", spec.path or DATABASE), ("table", TABLE.value(spec))):
        if not IDENTIFIER.match(name):
            raise UsageError(f"--sink {spec.display}: {what} name {name!r} is not a plain identifier")


KINDS = (
    SinkKind("clickhouse+http", f"clickhouse+http://[USER[:PASSWORD]@]HOST[:{PORT}]/DATABASE?table=NAME",
             ClickHouseSink, (TIMEOUT, TABLE), default_port=PORT, check=check_names),
)  # fmt: skip


def open_fleet(url: str, hosts: tuple[str, ...] = ()) -> Fleet:
    """The fleet table a ``--from`` URL names (the URL the sink takes), narrowed to ``hosts`` (globs)."""
    if not url.lower().startswith("clickhouse+http://"):
        raise UsageError(f"--from wants the URL the ClickHouse sink takes: {KINDS[0].syntax}")
    try:
        spec = parse_url(url, {kind.scheme: kind for kind in KINDS})
    except UsageError as exc:
        raise UsageError(str(exc).replace("--sink ", "--from ", 1)) from None
    return Fleet(client_for(spec), table_name(spec), hosts)


__all__ = [
    "KINDS", "LISTS", "OBJECTS", "TABLE", "ClickHouseSink", "client_for", "open_fleet", "split_time",
    "table_name", "to_row", "wanted_columns",
]  # fmt: skip
