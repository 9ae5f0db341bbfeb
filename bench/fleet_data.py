"""The fleet of bench/fleet.py: hosts × rounds of the real captured events, and the questions asked of it.

Host ``h`` (``host000``…) replays round ``r`` of the real events (bench/store.py's :class:`Replay`)
shifted by ``r·ROUND_SPAN + h·HOST_STAGGER`` seconds, so the hosts' rounds overlap in time as a fleet's
would; its pids are round ``r + h·HOST_PID_ROUNDS`` of the replay's pid counter (each host its own
pids), its serials ``r·SERIAL_SHIFT + h·HOST_SERIAL_SHIFT`` on. One event per round (the one with the
rarest long argument, :attr:`Questions.base_rare`) gets that argument suffixed ``-hHHHrRRR``: a word
found once in the whole fleet.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from exectrail.enrich.identity import exec_id
from exectrail.model import ExecEvent, new_exec_event
from store import ROUND_SPAN, SERIAL_SHIFT, Replay

HOST_STAGGER = 0.6  # seconds between the hosts' rounds (100 hosts cover one ROUND_SPAN)
HOST_PID_ROUNDS = 37  # host h's pids are the replay's pids of round r + h·37
HOST_SERIAL_SHIFT = 10_000_000_000
COMMON_WORD = "exec_chain"  # a third of the captured events run it (a busy build host's compiler, say)
_FIELDS = [f.name for f in dataclasses.fields(ExecEvent)]
_TIME, _SERIAL, _PID, _PPID, _ARGV, _EXEC_ID, _PARENT_ID, _PARENT = (
    _FIELDS.index(n) for n in ("time", "serial", "pid", "ppid", "argv", "exec_id", "parent_exec_id", "parent")
)
_LONG_WORD = re.compile(r"[a-z][a-z0-9-]{12,}\Z")


def host_name(h: int) -> str:
    return f"host{h:03d}"


def rare_word(word: str, h: int, r: int) -> str:
    return f"{word}-h{h:03d}r{r:03d}"


class Questions:
    """What the responder asks, picked from the real events: a rare word, a common word, a tree."""

    def __init__(self, events: list[ExecEvent]) -> None:
        seen = Counter(w for e in events for w in {a.decode("utf-8", "replace") for a in e.argv or ()})
        once = sorted((w for w, n in seen.items() if n == 1 and _LONG_WORD.match(w)), key=len)
        common = sum(any(COMMON_WORD.encode() in a for a in e.argv or ()) for e in events)
        if not once or not common:
            raise SystemExit("the captures lack the bench's words (not the committed captures?)")
        self.common_per_round = common
        self.base_rare = once[-1]
        self.marker = next(i for i, e in enumerate(events) if self.base_rare.encode() in (e.argv or ()))
        children = Counter(e.ppid for e in events if e.ppid is not None)
        parent = max((e for e in events if e.success), key=lambda e: children[_known(e.pid)])
        self.tree_pid = _known(parent.pid)
        self.tree_at = parent.time
        self.tree_children = children[self.tree_pid]

    def describe(self) -> dict[str, Any]:
        return {"base_rare_word": self.base_rare, "common_word": COMMON_WORD, "tree_pid": self.tree_pid,
                "common_events_per_round": self.common_per_round,
                "tree_children_per_round": self.tree_children}  # fmt: skip


def _known(pid: int | None) -> int:
    if pid is None:
        raise SystemExit("a process without a pid in the captures")
    return pid


class Fleet:
    """The replayed fleet: :meth:`events` of one host's round, and where its questions point."""

    def __init__(self, events: list[ExecEvent], questions: Questions) -> None:
        self.replay = Replay(events)
        self.events = events
        self.questions = questions
        self.start = min(e.time for e in events)
        self.values = [tuple(getattr(e, name) for name in _FIELDS) for e in events]
        self.identity = {e.exec_id: (e.epoch_ms, e.serial) for e in events if e.exec_id is not None}
        self.parent_time = {e.exec_id: e.time for e in events if e.exec_id is not None}

    def shift(self, h: int, r: int) -> timedelta:
        return timedelta(seconds=r * ROUND_SPAN + h * HOST_STAGGER)

    def pid(self, pid: int, h: int, r: int) -> int:
        return self.replay.pid(pid, r + h * HOST_PID_ROUNDS)

    def round(self, h: int, r: int) -> Iterator[ExecEvent]:
        """Round ``r`` of host ``h``: every field of the captured events, with time, serial, pids, exec
        ids (as ``watch`` on host ``h`` would make them) and the marker's argument changed."""
        dt, serial, k = self.shift(h, r), r * SERIAL_SHIFT + h * HOST_SERIAL_SHIFT, r + h * HOST_PID_ROUNDS
        pid_of, marker, name = self.replay.pid, self.questions.marker, host_name(h)
        dt_ms = int(dt.total_seconds() * 1000)
        ids: dict[str, str] = {}

        def new_id(old: str) -> str:
            got = ids.get(old)
            if got is None:
                ms, n = self.identity[old]
                got = ids[old] = exec_id(name, ms + dt_ms, n + serial)
            return got

        for i, values in enumerate(self.values):
            v = list(values)
            v[_TIME] += dt
            v[_SERIAL] += serial
            if v[_PID] is not None:
                v[_PID] = pid_of(v[_PID], k)
            if v[_PPID] is not None:
                v[_PPID] = pid_of(v[_PPID], k)
            if v[_EXEC_ID] is not None:
                v[_EXEC_ID] = new_id(v[_EXEC_ID])
            if (parent := v[_PARENT_ID]) is not None and parent in self.identity:
                v[_PARENT_ID] = new_id(parent)
                v[_PARENT] = {**v[_PARENT], "exec_id": v[_PARENT_ID], "pid": v[_PPID],
                              "time": iso(self.parent_time[parent] + dt)}  # fmt: skip
            if i == marker:
                word = self.questions.base_rare.encode()
                v[_ARGV] = tuple(rare_word(a.decode(), h, r).encode() if a == word else a for a in v[_ARGV])
            yield new_exec_event(*v)

    def heartbeat(self, h: int, r: int, n: int, state: str, interval: float) -> dict[str, Any]:
        """A heartbeat as ``watch --heartbeat`` sends it, stamped at the end of host ``h``'s round ``r``."""
        when = self.start + self.shift(h, r) + timedelta(seconds=ROUND_SPAN)
        name = host_name(h)
        return {"type": "heartbeat", "id": f"heartbeat:{name}:4242:{n}", "host": name, "time": iso(when),
                "state": state, "pid": 4242, "mode": "watch", "interval": interval,
                "counters": {"records": n * 4000, "events": n * 543, "shown": 0, "lost": 0, "alarms": 0,
                             "uptime_s": n * interval}}  # fmt: skip

    def tree_question(self, h: int, r: int) -> tuple[int, datetime]:
        """(pid, exec time) of the tree's root process in host ``h``'s round ``r``."""
        q = self.questions
        return self.pid(q.tree_pid, h, r), q.tree_at + self.shift(h, r)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


__all__ = ["COMMON_WORD", "Fleet", "Questions", "host_name", "iso", "rare_word"]
