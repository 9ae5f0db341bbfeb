"""The data of a case report (``report --html``): the events a filter selects, their process tree,
the alarms and their blind spots, and what ties the report to its evidence, as one JSON object
(docs/report-html.md describes it; :mod:`exectrail.output.html` puts it in the page).

Events become columns, one per field of :data:`~exectrail.schema.EVENT_FIELDS`, so that 100,000
events stay a few MB: text is an index into one string table, a column whose values are all equal is
written once, times and serials as differences. Text that is not UTF-8 is shown with ``\\xNN`` for
each bad byte and its exact bytes go beside it (``hex``).

The tree: an event's parent is the exec its process came from, found the way ``exectrail tree`` does
from the log alone (:func:`parents`: the latest successful exec of its ppid on the same host at or
before it, or the earlier exec of the same process, pid reuse told apart by time). When the event
names its parent's exec (``parent_exec_id``, live capture) that one wins.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exectrail.enrich.context import trail_parent_json
from exectrail.filters import EventFilter
from exectrail.interference import kinds
from exectrail.jsonform import details_to_json, object_text
from exectrail.model import CERTAIN, Alarm, ExecEvent
from exectrail.query.report import errno_name, place_of
from exectrail.query.tree import REUSE_GAP_MS, REUSE_NEIGHBOURS
from exectrail.schema import ARGV, BOOL, CONST, EVENT_FIELDS, INT, LIST, NAME, OBJECT, TEXT, TIME, Field
from exectrail.timefmt import from_iso, iso, time_to_ms

VERSION = 1
#: events a report holds unless told otherwise; the rest are counted and the page says it was cut
DEFAULT_MAX_EVENTS = 200_000


@dataclass
class Provenance:
    """Where the events came from and what ties the report to that evidence."""

    kind: str  # store, logs, clickhouse
    name: str  # the store's path, the log files, the URL (without credentials)
    chain: str | None = None  # the store's chain heads
    inputs: list[dict[str, Any]] = field(default_factory=list)  # log files: name, bytes, sha256
    problems: list[str] = field(default_factory=list)  # input diagnostics, one line each
    verified: bool | None = None  # a store: whether its hash chains checked out (None: not checked)


@dataclass(frozen=True)
class Made:
    """When, by what and by which command line the report was made."""

    at: datetime
    by: str
    command: str


class _Strings:
    """The string table: each distinct text once; text that is not UTF-8 shown with ``\\xNN`` and
    its bytes in ``hex``; and the table of lists of them (argv), each distinct list once."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self.hex: dict[str, str] = {}
        self._index: dict[str | bytes, int] = {}
        self.lists: list[list[int | None]] = []
        self._lists: dict[tuple[int | None, ...], int] = {}

    def seq(self, items: tuple[int | None, ...]) -> int:
        """The index in :attr:`lists` of a list of string indices (an argv, a list of names)."""
        index = self._lists.get(items)
        if index is None:
            index = self._lists[items] = len(self.lists)
            self.lists.append(list(items))
        return index

    def text(self, value: str | None) -> int | None:
        if value is None:
            return None
        index = self._index.get(value)
        if index is None:
            if value.isascii():
                index = self._add(value, None)
            else:
                raw = value.encode("utf-8", "surrogateescape")
                index = self._add(*_shown(raw))
            self._index[value] = index
        return index

    def raw(self, value: bytes) -> int:
        try:  # UTF-8 bytes share the entry of the same text (argv[0] and exe, say)
            return self.text(value.decode("utf-8"))  # type: ignore[return-value]
        except UnicodeDecodeError:
            pass
        index = self._index.get(value)
        if index is None:
            index = self._index[value] = self._add(*_shown(value))
        return index

    def _add(self, shown: str, hex_text: str | None) -> int:
        self.table.append(shown)
        if hex_text is not None:
            self.hex[str(len(self.table) - 1)] = hex_text
        return len(self.table) - 1


def _shown(raw: bytes) -> tuple[str, str | None]:
    """(the text to show, the hex of the bytes when they are not UTF-8)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw.hex()


def _encoder(f: Field, strings: _Strings) -> Callable[[Any], Any]:
    """How one value of field ``f`` goes into its column."""
    if f.kind == TIME:
        return time_to_ms
    if f.kind in (TEXT, NAME):
        return strings.text
    if f.kind == ARGV:
        return lambda argv: None if argv is None else strings.seq(tuple(strings.raw(a) for a in argv))
    if f.kind == LIST:
        return lambda names: None if names is None else strings.seq(tuple(strings.text(n) for n in names))
    if f.kind == OBJECT:
        return lambda value: None if value is None else strings.text(object_text(value))
    if f.kind in (INT, BOOL):
        return lambda value: value
    raise ValueError(f"no column for field kind {f.kind}")  # a schema change this module missed


COLUMN_FIELDS = tuple(f for f in EVENT_FIELDS if f.kind != CONST)
_DELTA = ("time", "serial")


def encode_column(values: list[Any], delta: bool = False) -> Any:
    """A column: ``{"same": v}`` when every value is ``v``, ``{"delta": […]}`` for ints written as
    differences, else the list itself."""
    first = values[0] if values else None
    if (
        values
        and not isinstance(first, list | dict)
        and all(v == first and type(v) is type(first) for v in values)
    ):
        return {"same": first}
    if delta and all(isinstance(v, int) for v in values):
        return {"delta": [b - a for a, b in zip([0, *values], values, strict=False)]}
    return values


class _PidUse:
    """When each pid of each host exec'd (in time order), to tell pid reuse as ``exectrail tree``
    does: a pid may have gone to another process between two times more than a second apart when
    pids just below it were handed out in between (the kernel's pid counter came round)."""

    def __init__(self) -> None:
        self.times: dict[tuple[str | None, int | None], list[int]] = {}

    def add(self, host: str | None, pid: int | None, ms: int) -> None:
        self.times.setdefault((host, pid), []).append(ms)

    def maybe_reused(self, host: str | None, pid: int | None, t1: int, t2: int) -> bool:
        if pid is None or t2 - t1 <= REUSE_GAP_MS:
            return False
        for below in range(max(pid - REUSE_NEIGHBOURS, 1), pid):
            times = self.times.get((host, below))
            if times and bisect.bisect_right(times, t1) < bisect.bisect_left(times, t2):
                return True
        return False


def parents(events: list[tuple[str | None, ExecEvent]]) -> list[int]:
    """For each event (in time order), the index of the exec it comes from, or -1: the exec that
    names it (``parent_exec_id``); else the same process's earlier exec (same pid and ppid, the pid
    not reused in between); else the latest successful exec of its ppid, unless that pid may have
    gone to another process since (then none: the page groups it under its ppid)."""
    out: list[int] = []
    current: dict[tuple[str | None, int | None], int] = {}  # (host, pid) -> its latest successful exec
    at: list[int] = []
    by_exec_id: dict[str, int] = {}
    used = _PidUse()
    for i, (host, e) in enumerate(events):
        ms = time_to_ms(e.time)
        at.append(ms)
        named = by_exec_id.get(e.parent_exec_id) if e.parent_exec_id else None
        same = current.get((host, e.pid))
        up = current.get((host, e.ppid))
        if named is not None:
            out.append(named)
        elif (
            same is not None
            and events[same][1].ppid == e.ppid
            and not used.maybe_reused(host, e.pid, at[same], ms)
        ):
            out.append(same)
        elif up is not None and not used.maybe_reused(host, e.ppid, at[up], ms):
            out.append(up)
        else:
            out.append(-1)
        used.add(host, e.pid, ms)
        if e.success is not False:
            current[(host, e.pid)] = i
            if e.exec_id:
                by_exec_id[e.exec_id] = i
    return out


def alarm_span(alarm: Alarm) -> tuple[int, int | None] | None:
    """The stretch of time an alarm says went unrecorded: (start ms, end ms or None for "to the end
    of the trail"), or None when it is not about a stretch of time."""
    start = time_to_ms(alarm.time)
    details = alarm.details
    if "until" in details:
        return start, _ms(details["until"])
    if "restarted" in details:
        return start, _ms(details["restarted"])
    span_ms = details.get("span_ms")
    if alarm.kind == kinds.EXEC_RULES_MISSING and isinstance(span_ms, int):
        return start, start + span_ms
    return None


def _ms(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return time_to_ms(from_iso(value))
    except ValueError:
        return None


def _count(details: dict[str, object], key: str) -> int:
    value = details.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _covered_ms(spans: list[tuple[int, int]]) -> int:
    """Milliseconds covered by the union of closed spans (overlaps counted once)."""
    total, reach = 0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def in_range(alarm: Alarm, event_filter: EventFilter) -> bool:
    """Whether an alarm (or the span it covers) touches the filter's time range."""
    span = alarm_span(alarm)
    start = time_to_ms(alarm.time)
    end = span[1] if span is not None else start
    if event_filter.end is not None and start > time_to_ms(event_filter.end):
        return False
    return not (event_filter.start is not None and end is not None and end < time_to_ms(event_filter.start))


class CaseBuilder:
    """Collects the events of a case (in any order; the first ``max_events`` are kept, the rest only
    counted) and makes the JSON object of the page."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_events = max_events
        self.events: list[tuple[str | None, ExecEvent]] = []
        self.matched = 0

    def add(self, event: ExecEvent, host: str | None = None) -> None:
        self.matched += 1
        if len(self.events) < self.max_events:
            self.events.append((host if host is not None else event.node, event))

    def build(
        self, alarms: Iterable[Alarm], provenance: Provenance, made: Made, filter_text: str | None = None
    ) -> dict[str, Any]:
        """The page's data (version :data:`VERSION`)."""
        events = sorted(self.events, key=lambda he: (time_to_ms(he[1].time), he[0] or "", he[1].serial))
        # certain first, then by time; one millisecond's alarms in an order every source gives alike
        alarm_list = sorted(alarms, key=lambda a: (a.certainty != CERTAIN, a.time, a.kind, a.summary))
        strings = _Strings()
        columns = {f.name: _column(f, events, strings) for f in COLUMN_FIELDS}
        places = [_place(e) for _, e in events]
        hosts = sorted({h for h, _ in events if h} | {a.host for a in alarm_list if a.host})
        alarm_rows = [_alarm(a) for a in alarm_list]
        return {
            "version": VERSION,
            "made": _shown_texts(
                {
                    "at": iso(made.at),
                    "by": made.by,
                    "command": made.command,
                    "source": {"kind": provenance.kind, "name": provenance.name},
                }
            ),
            "summary": _shown_texts(
                self._summary(events, alarm_list, alarm_rows, provenance, hosts, filter_text)
            ),
            "strings": strings.table,
            "hex": strings.hex,
            "lists": strings.lists,
            "fields": [{"name": f.name, "kind": f.kind, "doc": f.doc} for f in COLUMN_FIELDS],
            "columns": columns,
            "host": encode_column([strings.text(h) for h, _ in events]),
            "parent": parents(events),
            "writable": encode_column([p is not None for p in places]),
            "place": encode_column([strings.text(p) for p in places]),
            "error": encode_column(
                [strings.text(errno_name(e.exit)) if e.success is False else None for _, e in events]
            ),
            "alarms": alarm_rows,
        }

    def _summary(
        self,
        events: list[tuple[str | None, ExecEvent]],
        alarms: list[Alarm],
        rows: list[dict[str, Any]],
        provenance: Provenance,
        hosts: list[str],
        filter_text: str | None,
    ) -> dict[str, Any]:
        spans = [r["span"] for r in rows if r["span"] is not None and r["certainty"] == CERTAIN]
        closed = [(s, e) for s, e in spans if e is not None]
        cut = None
        if self.matched > len(events):
            cut = (
                f"only the first {len(events)} of {self.matched} matching events are in this file "
                f"(--max-events {self.max_events}); narrow the time range or the filter to see the rest"
            )
        return {
            "hosts": hosts,
            "first": time_to_ms(events[0][1].time) if events else None,
            "last": time_to_ms(events[-1][1].time) if events else None,
            "events": self.matched,
            "included": len(events),
            "failed": sum(1 for _, e in events if e.success is False),
            "cut": cut,
            "filter": filter_text,
            "alarms": len(alarms),
            "certain": sum(1 for a in alarms if a.certainty == CERTAIN),
            "lost": sum(_count(a.details, "lost") for a in alarms if a.kind == kinds.EVENTS_LOST),
            "missing": sum(_count(a.details, "events_missing") for a in alarms),
            "blind_spots": len(spans),
            "blind_ms": _covered_ms(closed),
            "blind_open": len(spans) - len(closed),
            "chain": provenance.chain,
            "verified": provenance.verified,
            "inputs": provenance.inputs,
            "problems": provenance.problems,
        }


def _place(event: ExecEvent) -> str | None:
    """The writable or hidden place what was run lives in (the executable, or for a failed exec the
    path it asked for), or None."""
    program = event.exe if event.success is not False else event.path
    return place_of(program) if program else None


def _column(f: Field, events: list[tuple[str | None, ExecEvent]], strings: _Strings) -> Any:
    encode = _encoder(f, strings)
    name = f.name
    if name == "parent":
        return _parent_column(events, encode)
    return encode_column([encode(getattr(e, name)) for _, e in events], delta=name in _DELTA)


def trail_parent(event: ExecEvent) -> dict[str, Any]:
    """The ``parent`` object a child of ``event`` gets from the trail (the enricher's own)."""
    return trail_parent_json(event.exec_id, event.pid, event.exe, event.argv, time_to_ms(event.time))


def _parent_column(events: list[tuple[str | None, ExecEvent]], encode: Callable[[Any], Any]) -> Any:
    """The ``parent`` objects: ``{"event": i}`` where the object is exactly :func:`trail_parent` of
    event ``i`` of the file (the page rebuilds it from there), else the object's JSON text."""
    at = {e.exec_id: i for i, (_, e) in enumerate(events) if e.exec_id}
    made: dict[int, dict[str, Any]] = {}  # a shell's children share their parent's object
    out: list[Any] = []
    for _, e in events:
        parent = e.parent
        trail = parent is not None and parent.get("source") == "trail"
        i = at.get(str(parent.get("exec_id"))) if parent is not None and trail else None
        if i is not None and i not in made:
            made[i] = trail_parent(events[i][1])
        if i is not None and made[i] == parent:
            out.append({"event": i})
        else:
            out.append(encode(parent))
    return encode_column(out)


def _alarm(alarm: Alarm) -> dict[str, Any]:
    span = alarm_span(alarm)
    return {
        "kind": alarm.kind,
        "time": time_to_ms(alarm.time),
        "summary": _text(alarm.summary),
        "certainty": alarm.certainty,
        "host": _text(alarm.host) if alarm.host is not None else None,
        "evidence": [_text(line) for line in alarm.evidence],
        "details": details_to_json(alarm.details),
        "span": list(span) if span is not None else None,
    }


def _shown_texts(value: Any) -> Any:
    """``value`` (JSON-like) with every string as :func:`_text` shows it (host names, file names and
    command lines may hold bytes that are not UTF-8)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {k: _shown_texts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown_texts(v) for v in value]
    return value


def _text(value: str) -> str:
    """Alarm text as shown: bytes that are not UTF-8 as ``\\xNN``."""
    if value.isascii():
        return value
    return _shown(value.encode("utf-8", "surrogateescape"))[0]


__all__ = [
    "DEFAULT_MAX_EVENTS",
    "VERSION",
    "CaseBuilder",
    "Made",
    "Provenance",
    "alarm_span",
    "encode_column",
    "in_range",
    "parents",
]
