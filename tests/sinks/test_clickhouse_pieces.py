"""The ClickHouse sink's streamed inserts (row_json lines in pieces, chunked): the table ends up with
exactly the rows the one-body insert of to_row rows gives, for batches of several pieces."""

from __future__ import annotations

import orjson
import pytest

from exectrail.model import ExecEvent
from exectrail.sinks import clickhouse as sink_module
from exectrail.sinks.base import Message, SinkError, event_message
from exectrail.sinks.clickhouse import PIECE_ROWS, ClickHouseSink
from exectrail.sinks.registry import parse_sink_url
from exectrail.warehouse.table import insert_rows, to_row
from tests.support.servers import ClickHouse, hung_listener

pytestmark = pytest.mark.server


def messages(events: list[ExecEvent]) -> list[Message]:
    """Enough messages for several pieces: the real events under three host names, and a heartbeat."""
    out = [event_message(e, host) for host in ("a", "b", "c\u00e9") for e in events]
    out.append(Message({"type": "heartbeat", "id": "heartbeat:a:1:1", "host": "a",
                        "time": "2026-11-25T14:40:47.506Z", "counters": {"events": 3}}))  # fmt: skip
    return out


def table_rows(server: ClickHouse, table: str) -> list[str]:
    return server.query(f"SELECT * FROM default.{table} ORDER BY host, id FORMAT JSONEachRow").splitlines()


def test_streamed_pieces_store_the_rows_to_row_makes(
    clickhouse: ClickHouse, real_events: list[ExecEvent]
) -> None:
    batch = messages(real_events)
    assert len(batch) > 2 * PIECE_ROWS
    sink = ClickHouseSink(parse_sink_url(clickhouse.url(table="pieces")))
    sink.send(batch)
    reference = ClickHouseSink(parse_sink_url(clickhouse.url(table="whole")))
    reference.send(batch[:1])  # creates the table the same way
    clickhouse.query("TRUNCATE TABLE default.whole")
    insert_rows(reference.client, reference.table, b"\n".join(orjson.dumps(to_row(m)) for m in batch))
    streamed = table_rows(clickhouse, "pieces")
    assert len(streamed) == len(batch)
    assert streamed == table_rows(clickhouse, "whole")
    sink.close()
    reference.close()


def test_a_server_that_never_answers_a_streamed_insert_is_a_sink_error(
    real_events: list[ExecEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink_module, "ensure_table", lambda client, table: None)
    with hung_listener(rcvbuf=4096) as port:
        sink = ClickHouseSink(parse_sink_url(f"clickhouse+http://127.0.0.1:{port}/default?timeout=1"))
        with pytest.raises(SinkError, match=r"ClickHouse at 127\.0\.0\.1"):
            sink.send(messages(real_events))
        sink.close()
