"""``sqlite:///PATH``: forwarding into the exectrail store (:mod:`exectrail.store`).

Each batch is one store transaction (``StoreWriter.flush``); the store drops events it already
holds (node, timestamp, serial), so a batch sent twice stores each event once. Messages that come
back from the spool are rebuilt from their JSON byte for byte (``argv_hex``, ``exe_hex`` and the other
``*_hex`` companions hold what is not UTF-8).
Alarms go to the store's alarms table (:func:`~exectrail.store.alarms.store_alarms`, which
also drops those already stored); heartbeats are accepted and not stored (a local store has no use
for them); any other message type is refused and counted as dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exectrail.model import Alarm, ExecEvent
from exectrail.sinks.base import Message, SinkError
from exectrail.sinks.spec import SinkKind, SinkSpec


def event_from_body(body: dict[str, Any]) -> ExecEvent:
    """The :class:`ExecEvent` of a forwarded exec event's JSON (byte-exact, see ``ExecEvent.from_dict``)."""
    return ExecEvent.from_dict(body)


def alarm_from_body(body: dict[str, Any]) -> Alarm:
    """The :class:`Alarm` of a forwarded alarm's JSON (``alarm_message_body``), byte-exact."""
    return Alarm.from_dict(body)


IGNORED_TYPES = frozenset({"heartbeat"})


class SqliteSink:
    """Exec events and alarms into the store at ``PATH`` (created when missing)."""

    lossy = False
    refused_reason = "the store does not take this message type"

    def __init__(self, spec: SinkSpec) -> None:
        self.name = spec.display
        self.path = Path(spec.path)
        self._store: Any = None
        self._writer: Any = None

    def _open(self) -> Any:
        from exectrail.store import EventStore

        if self._writer is None:
            self._store = EventStore(self.path)
            self._writer = self._store.writer(batch_size=1 << 30)
        return self._writer

    def send(self, batch: Sequence[Message]) -> int:
        from exectrail.store import StoreError
        from exectrail.store.alarms import store_alarms

        refused = 0
        alarms: list[Alarm] = []
        try:
            writer = self._open()
            for message in batch:
                event = message.event
                kind = message.body.get("type")
                if event is None and kind == "exec":
                    try:
                        event = event_from_body(message.body)
                    except (KeyError, TypeError, ValueError):
                        refused += 1  # not an exec event's JSON: retrying cannot help
                        continue
                if event is not None:
                    writer.add(event)
                elif kind == "alarm":
                    try:
                        alarms.append(alarm_from_body(message.body))
                    except (KeyError, TypeError, ValueError):
                        refused += 1  # malformed: retrying cannot help
                elif kind not in IGNORED_TYPES:
                    refused += 1
            writer.flush()
            if alarms:
                store_alarms(self._store, alarms)
        except StoreError as exc:
            self.close()
            raise SinkError(str(exc)) from None
        except (TypeError, ValueError):  # never for exectrail's own JSON
            self.close()
            raise SinkError("the store cannot hold a value of this batch; it waits in the spool") from None
        return refused

    def close(self) -> None:
        if self._writer is not None:
            self._writer.discard()
            self._writer = None
        if self._store is not None:
            with contextlib.suppress(Exception):  # closing must not raise; the next send reopens
                self._store.close()
            self._store = None


KINDS = (SinkKind("sqlite", "sqlite:///PATH", SqliteSink),)

__all__ = ["KINDS", "SqliteSink", "alarm_from_body", "event_from_body"]
