"""Rows of the fleet table read back as the objects they were: exec events, alarms, heartbeats.

An exec row's columns are the event's JSON fields (objects as JSON text, ``time`` split into seconds
and milliseconds); a row with ``body`` (an alarm, a heartbeat, an exec stamped outside ``DateTime``)
is that JSON. :func:`event_of` rebuilds the :class:`ExecEvent` byte-exact, as the store would;
an event logged without ``node=`` gets the host it was forwarded from as its ``node``, so every
event of a fleet answer says where it ran.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from exectrail.model import Alarm, ExecEvent
from exectrail.timefmt import iso
from exectrail.warehouse.client import WarehouseError
from exectrail.warehouse.table import EXEC_FIELDS, LISTS, OBJECTS

#: The SELECT list that :func:`event_of` reads.
EVENT_COLUMNS = ", ".join(
    ["host", "toUInt32(time) AS epoch", "time_ms", "body", *EXEC_FIELDS, *LISTS, *OBJECTS]
)


def _time_text(epoch: object, ms: object) -> str:
    if not isinstance(epoch, int) or not isinstance(ms, int):
        raise ValueError("time is not a number")
    return iso(datetime.fromtimestamp(epoch + ms / 1000, UTC))


def exec_body(row: dict[str, Any]) -> dict[str, Any]:
    """The event's JSON object from a row selected with :data:`EVENT_COLUMNS`."""
    if row.get("body"):
        body = orjson.loads(row["body"])
        if not isinstance(body, dict):
            raise ValueError("body is not an object")
        return body
    body = {name: row.get(name) for name in (*EXEC_FIELDS, *LISTS)}
    for name in OBJECTS:
        text = row.get(name)
        body[name] = None if text is None else orjson.loads(text)
    if not body.get("argv_hex"):
        body.pop("argv_hex", None)
    if not body.get("argv") and body.get("argc") != 0:  # the column holds [] for "no EXECVE record"
        body["argv"] = None
    body["time"] = _time_text(row.get("epoch"), row.get("time_ms"))
    body["type"] = "exec"
    return body


def _foreign(what: str, row: dict[str, Any]) -> str:
    return f"the fleet table holds {what} row exectrail did not write (id {row.get('id')!r})"


def event_of(row: dict[str, Any]) -> ExecEvent:
    """The event of a row; :class:`WarehouseError` for a row exectrail cannot have written."""
    try:
        body = exec_body(row)
        if body.get("node") is None and row.get("host"):
            body["node"] = row["host"]
        return ExecEvent.from_dict(body)
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        raise WarehouseError(
            f"the fleet table holds an exec row exectrail did not write (id {row.get('id')!r})"
        ) from None


def alarm_of(row: dict[str, Any]) -> Alarm:
    """The alarm of a row holding its JSON in ``body``."""
    try:
        body = orjson.loads(row["body"])
        return Alarm.from_dict(body)
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        raise WarehouseError(
            f"the fleet table holds an alarm row exectrail did not write (id {row.get('id')!r})"
        ) from None


__all__ = ["EVENT_COLUMNS", "alarm_of", "event_of", "exec_body"]
