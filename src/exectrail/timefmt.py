"""Time as exectrail keeps and writes it: aware UTC datetimes, milliseconds since the epoch (audit
timestamps have millisecond resolution), and the text forms -- the JSON time (ISO 8601 with
milliseconds and a ``Z``), durations, and local time in messages. (Times a user types are read by
:mod:`~exectrail.timeparse`.)"""

from __future__ import annotations

import time as _clock
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_to_datetime(seconds: int, milliseconds: int) -> datetime:
    """Audit timestamp (seconds, milliseconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=milliseconds * 1000)


def time_to_ms(time: datetime) -> int:
    """Milliseconds since the epoch (audit timestamps have millisecond resolution)."""
    delta = time - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_time(ms: int) -> datetime:
    """Inverse of :func:`time_to_ms` (same value as :func:`timestamp_to_datetime`)."""
    return EPOCH + timedelta(milliseconds=ms)


def iso(when: datetime) -> str:
    """``2026-11-25T14:59:53.594Z`` (the JSON time format)."""
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_text(when: datetime) -> str:
    """``2026-11-25 14:59:53.594`` (UTC, for tables and trees)."""
    return when.isoformat(sep=" ", timespec="milliseconds").replace("+00:00", "")


def from_iso(text: str) -> datetime:
    """A datetime from :func:`iso`'s form (or any other ISO 8601 time); ValueError when it is none."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_iso() -> str:
    """Now, to the second: ``2026-11-25T14:59:53Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def local_text(seconds: float) -> str:
    """Epoch seconds as local time for a message: ``2026-11-25 15:59:53``."""
    return _clock.strftime("%Y-%m-%d %H:%M:%S", _clock.localtime(seconds))


def format_duration(ms: int) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 5 s``, ``2 h 3 min``, ``3 d 4 h``."""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
