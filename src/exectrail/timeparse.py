"""Times given on the command line: ISO 8601, epoch seconds, and ausearch's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exectrail.errors import UsageError

WORDS = ("now", "recent", "today", "yesterday", "this-week", "week-ago", "this-month", "this-year")


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware datetime for ``text``.

    ISO 8601 (``2026-11-25T14:00``, ``2026-11-25 14:00:00Z``, a date alone), ``@EPOCH`` or a bare
    number of epoch seconds, or one of ausearch's words: ``now``, ``recent`` (10 minutes ago),
    ``today`` and ``yesterday`` (local midnight), ``this-week`` (local Monday 00:00), ``week-ago``,
    ``this-month``, ``this-year``. Times without a zone are local time, as in ausearch.
    """
    now = now if now is not None else datetime.now(UTC)
    local_now = now.astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    word = text.strip().lower()
    words = {
        "now": now,
        "recent": now - timedelta(minutes=10),
        "today": midnight,
        "yesterday": midnight - timedelta(days=1),
        "this-week": midnight - timedelta(days=midnight.weekday()),
        "week-ago": now - timedelta(days=7),
        "this-month": midnight.replace(day=1),
        "this-year": midnight.replace(month=1, day=1),
    }
    if word in words:
        return words[word]
    number = word[1:] if word.startswith("@") else word
    try:
        return datetime.fromtimestamp(float(number), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-25T14:00), @EPOCH or one of {', '.join(WORDS)}"
        ) from None
    try:
        aware = parsed if parsed.tzinfo is not None else parsed.astimezone()
        aware.astimezone(UTC)  # in UTC too it must be a date of years 1 to 9999
    except (ValueError, OverflowError):
        raise UsageError(f"time {text!r} is out of range (years 1 to 9999)") from None
    return aware
