"""Small bounded memos for the event builder.

Much of what an exec event's records hold repeats from event to event: the SYSCALL ids, comm, exe
and key of a program, its CWD and PATH records, the second of the timestamp. Decoding a value once
and looking it up afterwards is cheaper than decoding it again. Only short keys are kept, and a full
memo starts over, so memory stays bounded on an endless stream. Values are immutable (str, int,
tuple, datetime), so sharing them between events changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

MAX_ENTRIES = 4096
MAX_KEY_BYTES = 512

_V = TypeVar("_V")


def remember(memo: dict[bytes, _V], key: bytes, value: _V) -> _V:
    """``memo[key] = value`` when ``key`` is short (a full memo is emptied first); returns ``value``."""
    if len(key) <= MAX_KEY_BYTES:
        if len(memo) >= MAX_ENTRIES:
            memo.clear()
        memo[key] = value
    return value


def decoded(memo: dict[bytes, str], decode: Callable[[bytes], str | None], key: bytes) -> str | None:
    """``decode(key)``, remembered unless None (callers look in ``memo`` first)."""
    text: str | None = decode(key)
    return text if text is None else remember(memo, key, text)
