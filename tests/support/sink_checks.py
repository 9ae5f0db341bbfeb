"""What a forwarded event must look like at the receiver."""

from __future__ import annotations

from typing import Any

from exectrail.jsonform import event_to_dict
from exectrail.model import ExecEvent
from tests.support.servers import Rsyslog


def expected_body(event: ExecEvent, host: str) -> dict[str, Any]:
    body = event_to_dict(event)
    body["host"] = host
    body["id"] = event.event_id
    return body


def argv_bytes(body: dict[str, Any]) -> tuple[bytes, ...] | None:
    """The exact argv bytes a receiver can rebuild from the JSON (``argv_hex`` when not UTF-8)."""
    if body.get("argv") is None:
        return None
    if body.get("argv_hex"):
        return tuple(bytes.fromhex(h) for h in body["argv_hex"])
    return tuple(a.encode("utf-8") for a in body["argv"])


def check_exact(rsyslog: Rsyslog, host: str, events: list[ExecEvent]) -> None:
    """Every event arrived exactly once, in order, with the whole event and byte-exact argv."""
    rsyslog.wait_for(host, len(events))
    received = rsyslog.received(host)
    assert [body["id"] for _, _, body in received] == [e.event_id for e in events]
    for (msgid, app, body), event in zip(received, events, strict=True):
        assert (msgid, app) == (b"exec", b"exectrail")
        assert body == expected_body(event, host)
        assert argv_bytes(body) == event.argv


def first_occurrences(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out
