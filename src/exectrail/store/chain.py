"""The hash chain over stored events.

Every row carries two SHA-256 values:

* ``digest`` = SHA-256 of the row's canonical form: the UTF-8 bytes of the compact JSON array of
  its stored column values in :data:`~exectrail.store.codec.COLUMNS` order (integers, strings,
  ``null``; BLOB values as ``{"hex": "…"}``), prefixed with ``exectrail-event-v1\\n``, with the
  last column, ``incomplete``, left out when it is 0 (see :func:`~exectrail.store.codec.hashed_columns`).
  It says whether the row's content is what was written.
* ``chain`` = SHA-256(previous row's ``chain`` ‖ ``digest``); the row with ``seq`` 1 follows
  :data:`GENESIS` (32 zero bytes). It says whether the rows are the ones written, in that order.

``seq`` is the insertion order (1, 2, 3 … without gaps); duplicates are never stored, so they never
enter the chain. The last row's ``(seq, chain)`` is the *head*: a responder who notes it elsewhere
can later prove that nothing up to that row changed, even by someone who recomputed the whole chain.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from exectrail.store.codec import Row, hashed_columns

GENESIS = bytes(32)
CANONICAL_PREFIX = b"exectrail-event-v1\n"
_sha256 = hashlib.sha256


def _blob(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    raise TypeError(f"cannot hash a {type(value).__name__} column value")


def canonical(row: Row) -> bytes:
    """The canonical bytes of a stored row (see the module docstring)."""
    return CANONICAL_PREFIX + orjson.dumps(hashed_columns(row), default=_blob)


def digest(row: Row) -> bytes:
    """SHA-256 of :func:`canonical`."""
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


def link(previous: bytes, row_digest: bytes) -> bytes:
    """The chain value of a row whose predecessor's chain value is ``previous``."""
    return _sha256(previous + row_digest).digest()


def format_head(seq: int, chain: bytes) -> str:
    """``SEQ:HEX`` — the form ``verify --head`` prints and ``verify --expect`` takes."""
    return f"{seq}:{chain.hex()}"


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
