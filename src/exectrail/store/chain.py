"""The hash chain over stored events.

Every row carries two SHA-256 values:

* ``digest`` = SHA-256 of the row's canonical form: the UTF-8 bytes of the compact JSON array of
  its stored column values in :data:`~exectrail.store.codec.COLUMNS` order (integers, strings,
  ``null``; BLOB values as ``{"hex": "…"}``), prefixed with ``exectrail-event-v1\\n``, with the
  columns added after schema 1 (``incomplete``, ``script``, ``fileless``) left out from the last one
  back while they hold what their migration gave old rows (see :func:`~exectrail.store.codec.hashed_columns`).
  It says whether the row's content is what was written.
* ``chain`` = SHA-256(previous row's ``chain`` ‖ ``digest``); the row with ``seq`` 1 follows
  :data:`GENESIS` (32 zero bytes). It says whether the rows are the ones written, in that order.

``seq`` is the insertion order (1, 2, 3 … without gaps); duplicates are never stored, so they never
enter the chain. The last row's ``(seq, chain)`` is the *head*: a responder who notes it elsewhere
can later prove that nothing up to that row changed, even by someone who recomputed the whole chain.

Stored alarms have a chain of their own, built the same way: ``digest`` = SHA-256 of
``exectrail-alarm-v1\n`` and the compact JSON array of :data:`ALARM_COLUMNS`; ``chain`` = SHA-256(previous
alarm's ``chain`` ‖ ``digest``), the first following :data:`GENESIS`. ``verify --head`` prints both heads
as ``events=SEQ:HEX,alarms=SEQ:HEX`` (:func:`format_heads`; an empty chain is left out).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from exectrail.store.codec import Row, hashed_columns

GENESIS = bytes(32)
CANONICAL_PREFIX = b"exectrail-event-v1\n"
ALARM_PREFIX = b"exectrail-alarm-v1\n"
#: Stored columns of one alarm that its digest covers, in table order.
ALARM_COLUMNS = ("identity", "kind", "time_ms", "certainty", "host", "summary", "details", "evidence")
_sha256 = hashlib.sha256


def _blob(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    raise TypeError(f"cannot hash a {type(value).__name__} column value")


def digest(row: Row) -> bytes:
    """SHA-256 of a stored row's canonical form (see the module docstring)."""
    row = hashed_columns(row)
    try:
        return _sha256(CANONICAL_PREFIX + orjson.dumps(row, default=_blob)).digest()
    except orjson.JSONEncodeError:
        return _sha256(CANONICAL_PREFIX + orjson.dumps(_mark_invalid(row), default=_blob)).digest()


def _mark_invalid(row: Row) -> list[Any]:
    """A row read back with TEXT that is not UTF-8 (never written by exectrail: tampering or damage)
    gets a form no genuine row has, so its digest cannot match."""
    out: list[Any] = []
    for value in row:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                value = {"invalid-text": value.encode("utf-8", "surrogateescape").hex()}
        out.append(value)
    return out


def alarm_digest(row: Row) -> bytes:
    """SHA-256 of an alarm row (:data:`ALARM_COLUMNS` order; see the module docstring)."""
    try:
        return _sha256(ALARM_PREFIX + orjson.dumps(list(row), default=_blob)).digest()
    except orjson.JSONEncodeError:
        return _sha256(ALARM_PREFIX + orjson.dumps(_mark_invalid(row), default=_blob)).digest()


def link(previous: bytes, row_digest: bytes) -> bytes:
    """The chain value of a row whose predecessor's chain value is ``previous``."""
    return _sha256(previous + row_digest).digest()


def stored_bytes(value: object) -> bytes:
    """A digest or chain value as read back: exectrail stores BLOBs; anything else (edited by hand)
    becomes bytes that match no SHA-256 value."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return b"" if value is None else str(value).encode()


def format_head(seq: int, chain: object) -> str:
    """``SEQ:HEX`` — the form ``verify --head`` prints and ``verify --expect`` takes."""
    return f"{seq}:{stored_bytes(chain).hex()}"


Head = tuple[int, bytes]


@dataclass(frozen=True)
class Heads:
    """The heads of both chains (None: that chain is empty, or was not noted)."""

    events: Head | None
    alarms: Head | None = None


def format_heads(heads: Heads) -> str:
    """``events=SEQ:HEX,alarms=SEQ:HEX`` (an empty chain left out; ``empty`` when both are)."""
    parts = [
        f"{name}={format_head(*head)}"
        for name, head in (("events", heads.events), ("alarms", heads.alarms))
        if head is not None
    ]
    return ",".join(parts) or "empty"


def parse_heads(text: str) -> Heads:
    """Inverse of :func:`format_heads`; a bare ``SEQ:HEX`` (older exectrail) is the events head.
    ValueError when malformed."""
    text = text.strip()
    if "=" not in text:
        return Heads(parse_head(text))
    found: dict[str, Head] = {}
    for part in text.split(","):
        name, _, head = part.partition("=")
        if name not in ("events", "alarms") or name in found:
            raise ValueError(f"not a chain head (events=SEQ:HEX,alarms=SEQ:HEX): {text!r}")
        found[name] = parse_head(head)
    return Heads(found.get("events"), found.get("alarms"))


def parse_head(text: str) -> tuple[int, bytes]:
    """Inverse of :func:`format_head`; ValueError when malformed."""
    seq_text, _, hex_text = text.strip().partition(":")
    try:
        value = bytes.fromhex(hex_text)
    except ValueError:
        value = b""
    if not seq_text.isdigit() or len(value) != 32:
        raise ValueError(f"not a chain head (SEQ:64 hex digits): {text!r}")
    return int(seq_text), value
