"""warehouse.table.row_json: the ClickHouse sink's fast JSONEachRow line is the row to_row builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from exectrail.model import ExecEvent
from exectrail.sinks.base import Message, event_message
from exectrail.warehouse.table import LISTS, row_json, to_row
from tests.support.captures import read_events
from tests.support.paths import DATA

EVENTS = read_events(DATA / "interleaved_concurrent.log", DATA / "workload_enriched.log")


def same_row(message: Message) -> None:
    """The line says what to_row says: every column to_row sets has that value in the line, or the
    line leaves it out and the table's default (NULL, [] for lists) is that value; nothing else."""
    line = row_json(message)
    assert b"\n" not in line
    sent: dict[str, Any] = orjson.loads(line)
    row = to_row(message)
    assert set(sent) <= set(row) | set(message.body)
    for name, value in row.items():
        default: Any = [] if name in LISTS else None
        assert sent.get(name, default) == value, name


@pytest.mark.parametrize("host", ["host042", "h\u00e9"])
def test_every_captured_event_gives_its_to_row_row(host: str) -> None:
    assert len(EVENTS) > 500
    for event in EVENTS:
        same_row(event_message(event, host))


def changed(event: ExecEvent, **values: Any) -> ExecEvent:
    fields = {name: getattr(event, name) for name in event.__dataclass_fields__}
    return ExecEvent(**{**fields, **values})


WITH_PARENT = next(e for e in EVENTS if e.parent is not None and e.argv)


@pytest.mark.parametrize(
    "event",
    [
        changed(WITH_PARENT, argv=None, argc=None, incomplete=True),  # null lists, the parent has argv
        changed(WITH_PARENT, argv=(b"\xff\xfe", b'{"parent":{}}', b'"argv":null')),  # hex, look-alikes
        changed(WITH_PARENT, time=datetime(2200, 1, 1, tzinfo=UTC)),  # past DateTime: body kept
        changed(WITH_PARENT, time=datetime(1970, 1, 1, tzinfo=UTC)),
        changed(WITH_PARENT, time=datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)),
        changed(WITH_PARENT, node="n\udcff", parent={"argv": None, "time": "x", "exec_id": "e"}),
        changed(
            WITH_PARENT, fileless=(), exe_hash={"sha256": "ab", "z": 1, "a": [1]}, env={"B": "1", "A": "{"}
        ),
    ],
)
def test_edges_give_the_to_row_row(event: ExecEvent) -> None:
    same_row(event_message(event, "host001"))


def test_messages_read_back_from_the_spool_and_other_types() -> None:
    for event in EVENTS[:50]:
        same_row(Message.from_json(event_message(event, "h").json))
    beat = {"type": "heartbeat", "id": "heartbeat:h:1:2", "host": "h", "time": "2026-11-25T14:40:47.506Z",
            "counters": {"events": 3}}  # fmt: skip
    same_row(Message(beat))
    assert orjson.loads(row_json(Message(beat)))["body"] == orjson.dumps(beat).decode()
    same_row(Message({**event_message(EVENTS[0], "h").body, "host": None}))  # not as the sink builds it
