"""``search`` and ``timeline`` over the fleet in ClickHouse: the same answers as over the store.

Rows are selected by :mod:`~exectrail.query.fleetsql`'s superset conditions, rebuilt as events
(:func:`~exectrail.warehouse.rows.event_of`), checked exactly in Python (the filter, the full-text
phrases of :mod:`~exectrail.query.fulltext`) and de-duplicated by id (a row delivered twice is
one event until ClickHouse merges it away).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.query.fleetsql import EVENTS, FAILED, MS, TIME_COLUMNS, TIME_ORDER, exact_where, exec_where
from exectrail.query.fleetwords import RARE, Driver, driver, windows
from exectrail.query.fulltext import TextMatcher
from exectrail.query.search import SearchQuery
from exectrail.query.timeline import SessionSummary, TimelineQuery
from exectrail.store.codec import search_text
from exectrail.timefmt import ms_to_time
from exectrail.warehouse.rows import EVENT_COLUMNS, event_of
from exectrail.warehouse.source import Fleet, literal

#: Rows fetched per request while streaming a large answer.
PAGE = 20_000
#: Events checked against the full-text words at a time.
CHUNK = 2_000
#: A common word's index rows per window when every match is wanted.
WINDOW_ROWS = 20_000
#: A common word's first index rows read at once (at least twice ``--limit``).
FIRST_ROWS = 500


def _text_condition(tokens: Sequence[str]) -> str:
    """A cheap superset for the words: each of their tokens occurs in the command line or the path,
    ignoring case (not accents: a word typed without them does not find an accented one here)."""
    haystack = "concat(arrayStringConcat(argv, ' '), ' ', ifNull(path, ''))"
    found = [f"positionCaseInsensitiveUTF8({haystack}, {literal(token)}) > 0" for token in tokens]
    return "((" + " AND ".join(found or ["1"]) + ") OR notEmpty(argv_hex) OR isNotNull(path_hex))"


def _events(fleet: Fleet, where: str, descending: bool = False) -> Iterator[tuple[str, ExecEvent]]:
    """(host, event) of the rows ``where`` selects, in time order, page by page, each id once (a row
    delivered twice is one event until ClickHouse merges the copies)."""
    order = ", ".join(f"{c} DESC" for c in TIME_COLUMNS) if descending else TIME_ORDER
    seen: set[str] = set()
    offset = 0
    while True:
        sql = f"SELECT id, {EVENT_COLUMNS} FROM {fleet.table}{where} ORDER BY {order}, id"
        sql += f"{' DESC' if descending else ''} LIMIT {offset}, {PAGE}"
        rows = list(fleet.rows(sql))
        for row in rows:
            row_id = str(row.get("id"))
            if row_id not in seen:
                seen.add(row_id)
                yield str(row.get("host")), event_of(row)
        if len(rows) < PAGE:
            return
        offset += PAGE


def _chunks(events: Iterator[ExecEvent], size: int) -> Iterator[list[ExecEvent]]:
    while chunk := list(itertools.islice(events, size)):
        yield chunk


def _checked(
    fleet: Fleet, query: SearchQuery, where: str, matcher: TextMatcher | None
) -> Iterator[ExecEvent]:
    """The events of the rows ``where`` selects that the filter and the words match, in order."""
    for chunk in _chunks((e for _, e in _events(fleet, where, query.newest_first)), CHUNK):
        kept = [e for e in chunk if query.filter.matches(e)]
        if matcher is not None:
            hits = matcher.hits([search_text(e) for e in kept])
            kept = [e for i, e in enumerate(kept) if i in hits]
        yield from kept


def _first_by_words(
    fleet: Fleet, query: SearchQuery, matcher: TextMatcher, drive: Driver
) -> Iterator[ExecEvent]:
    """The first matches when the rarest word is common: the index's first ``k`` rows of it in time
    order are the candidates; matches in the last second they reach may lack some of that second's,
    so they wait for a larger ``k`` (four times as many) unless the word has no more rows."""
    assert query.limit is not None
    shown, k = 0, max(2 * query.limit, FIRST_ROWS)
    while True:
        edge = drive.second_at(k, query.newest_first)
        where = exec_where(fleet, query.filter, prewhere=drive.candidates(k, query.newest_first))
        for event in itertools.islice(_checked(fleet, query, where, matcher), shown, None):
            second = int(event.time.timestamp())
            if edge is not None and (second <= edge if query.newest_first else second >= edge):
                break  # not yet certain: that second may hold earlier matches past the k rows
            shown += 1
            yield event
            if shown >= query.limit:
                return
        if edge is None:
            return
        k *= 4


def search(fleet: Fleet, query: SearchQuery) -> Iterator[ExecEvent]:
    """The matching events of the fleet's hosts, oldest first (newest first with ``newest_first``)."""
    if not query.text:
        yield from itertools.islice(
            _checked(fleet, query, exec_where(fleet, query.filter), None), query.limit
        )
        return
    matcher = TextMatcher(query.text)
    try:
        drive = driver(fleet, matcher.terms, query.filter)
        if drive is not None and drive.rows > RARE and query.limit is not None:
            yield from _first_by_words(fleet, query, matcher, drive)
            return
        if drive is not None and drive.rows > RARE:  # every match of a common word: a window at a time
            for window in windows(drive, WINDOW_ROWS, query.newest_first):
                candidates = drive.candidates(within=window)
                yield from _checked(
                    fleet, query, exec_where(fleet, query.filter, prewhere=candidates), matcher
                )
            return
        if drive is not None and drive.rows <= RARE:
            candidates = drive.candidates()
        else:  # no index: read the command lines
            candidates = _text_condition(matcher.tokens)
        where = exec_where(fleet, query.filter, prewhere=candidates)
        yield from itertools.islice(_checked(fleet, query, where, matcher), query.limit)
    finally:
        matcher.close()


def hosted_events(fleet: Fleet, event_filter: EventFilter) -> Iterator[tuple[str, ExecEvent]]:
    """(host, event) of every event of the fleet's hosts the filter selects, oldest first."""
    for host, event in _events(fleet, exec_where(fleet, event_filter)):
        if event_filter.matches(event):
            yield host, event


def timeline(fleet: Fleet, query: TimelineQuery) -> Iterator[ExecEvent]:
    """The selected session's (user's, terminal's) events, oldest first."""
    more = []
    if query.unset_session:
        more.append("isNull(ses)")
    elif query.session is not None:
        more.append(f"ses = {int(query.session)}")
    if query.tty is not None:
        more.append(f"(tty = {literal(query.tty)} OR isNotNull(tty_hex))")
    for _host, event in _events(fleet, exec_where(fleet, query.filter, *more)):
        if query.filter.matches(event) and (query.tty is None or event.tty == query.tty):
            yield event


def sessions(fleet: Fleet, query: TimelineQuery) -> list[SessionSummary]:
    """Every session among the matching events, per host, oldest first."""
    sql = (
        f"SELECT host, ses, auid, groupUniqArray(tty) AS ttys, min({MS}) AS first, "
        f"max({MS}) AS last, {EVENTS} AS events, "
        f"{FAILED} AS failed FROM {fleet.table}{exact_where(fleet, query.filter)} "
        "GROUP BY host, ses, auid ORDER BY first, host"
    )
    out = []
    for row in fleet.rows(sql):
        ttys = tuple(sorted(t for t in row["ttys"] if t))
        first, last = ms_to_time(row["first"]), ms_to_time(row["last"])
        out.append(
            SessionSummary(
                row["ses"], row["auid"], ttys, first, last, row["events"], row["failed"], row["host"]
            )
        )
    return out


__all__ = ["search", "search_text", "sessions", "timeline"]
