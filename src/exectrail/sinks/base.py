"""The sink protocol: what every forwarding target implements, and the message it carries.

A :class:`Message` is one JSON-able object with an ``id`` (the de-duplication key receivers use):
exec events today (``event_to_dict`` + ``host`` + ``id``), alarms and heartbeats later. A sink
delivers a whole batch or raises :class:`SinkError`; the forwarder then keeps the batch (memory or
spool) and calls ``send`` again later with the same messages, so sends must be idempotent for the
receiver up to duplicates (at-least-once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from exectrail.errors import ExectrailError
from exectrail.jsonform import event_to_dict
from exectrail.model import ExecEvent


class SinkError(ExectrailError):
    """A sink could not be used or a delivery failed (the message says why, in one line)."""


class Message:
    """One forwarded object: ``id``, the ``body`` dict, and ``json`` (the body as compact JSON bytes).

    ``event`` is the :class:`ExecEvent` it came from while in memory (None once read back from the
    spool), for sinks that store events rather than JSON (the SQLite store).
    """

    __slots__ = ("body", "event", "id", "json")

    def __init__(
        self, body: dict[str, Any], json: bytes | None = None, event: ExecEvent | None = None
    ) -> None:
        msg_id = body.get("id")
        if not isinstance(msg_id, str) or not msg_id:
            raise ValueError("a message body needs a non-empty string 'id'")
        self.id = msg_id
        self.body = body
        self.json = json if json is not None else orjson.dumps(body)
        self.event = event

    @classmethod
    def from_json(cls, data: bytes) -> Message:
        """A message read back from its JSON (the spool's line format)."""
        body = orjson.loads(data)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return cls(body, data)

    def __repr__(self) -> str:
        return f"Message({self.id!r}, type={self.body.get('type')!r})"


def event_message(event: ExecEvent, host: str) -> Message:
    """The forwarded form of an exec event: the JSON schema plus ``host`` and ``id``."""
    body = event_to_dict(event)
    body["host"] = host
    event_id = event.event_id
    if "node_hex" in body:  # a node name that is not UTF-8: its bytes as \\xNN in the id
        event_id = event_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    body["id"] = event_id
    return Message(body, event=event)


class Sink(Protocol):
    """A forwarding target. ``name`` is its URL without secrets (for messages and status)."""

    name: str

    def send(self, batch: Sequence[Message]) -> int:
        """Deliver every message of ``batch`` or raise :class:`SinkError`.

        Returns how many messages the sink refused for good (e.g. too large for a UDP datagram);
        those are counted as dropped, with the sink's ``refused_reason`` attribute as the reason.
        """
        ...

    def close(self) -> None:
        """Release connections and files; never raises."""
        ...


# Optional sink attributes: ``lossy`` (bool: warn the user), ``refused_reason`` (str) and
# ``tuning_hints`` (dict of Tuning fields this receiver prefers, e.g. larger batches).


__all__ = ["Message", "Sink", "SinkError", "event_message"]
