"""Event filters shared by review, watch and the store queries."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime

from exectrail.model import ExecEvent


def _text_matcher(pattern: str) -> tuple[str, bool]:
    return pattern, any(ch in pattern for ch in "*?[")


@dataclass(frozen=True)
class EventFilter:
    """All given criteria must hold (AND); within one criterion any value may match (OR).

    ``comm`` and ``exe`` are exact unless they hold a glob character (``*``, ``?``, ``[``).
    ``auids`` may hold None for "unset". ``argv_contains`` is a substring of the command line
    (arguments joined by spaces, compared as bytes so non-UTF-8 arguments can match too).
    """

    pids: frozenset[int] = frozenset()
    ppids: frozenset[int] = frozenset()
    uids: frozenset[int] = frozenset()
    auids: frozenset[int | None] = frozenset()
    comms: tuple[str, ...] = ()
    exes: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    success: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    argv_contains: tuple[str, ...] = ()
    _needles: tuple[bytes, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        needles = tuple(t.encode("utf-8", "surrogateescape") for t in self.argv_contains)
        object.__setattr__(self, "_needles", needles)

    @property
    def empty(self) -> bool:
        return self == EventFilter()

    def matches(self, event: ExecEvent) -> bool:
        """True when ``event`` meets every criterion."""
        if self.pids and event.pid not in self.pids:
            return False
        if self.ppids and event.ppid not in self.ppids:
            return False
        if self.uids and event.uid not in self.uids:
            return False
        if self.auids and event.auid not in self.auids:
            return False
        if self.success is not None and event.success != self.success:
            return False
        if self.start is not None and event.time < self.start:
            return False
        if self.end is not None and event.time > self.end:
            return False
        if self.comms and not _any_match(event.comm, self.comms):
            return False
        if self.exes and not _any_match(event.exe, self.exes):
            return False
        if self.keys and not _any_key(event.key, self.keys):
            return False
        if self._needles:
            line = b" ".join(event.argv) if event.argv is not None else b""
            if not any(needle in line for needle in self._needles):
                return False
        return True


def _any_match(value: str | None, patterns: tuple[str, ...]) -> bool:
    if value is None:
        return False
    for pattern in patterns:
        text, is_glob = _text_matcher(pattern)
        if fnmatch.fnmatchcase(value, text) if is_glob else value == text:
            return True
    return False


def _any_key(value: str | None, keys: tuple[str, ...]) -> bool:
    if value is None:
        return False
    present = value.split(",")
    return any(k in present for k in keys)
