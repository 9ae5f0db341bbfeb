"""The store accepts every value the JSON can show, and gives it back exactly.

The decoder lets through: times up to 9999-12-31, serials up to 2^63-1, ids up to 2^32-1, exit codes
over the whole signed 64-bit range, argc up to 2^31-1, any bytes in text, and None for any field an
incomplete event may lack. Each must survive the JSON, a real store (written, read back, verified)
and the store's SQL queries.
"""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.filters import EventFilter
from exectrail.jsonform import event_to_dict
from exectrail.model import ExecEvent
from exectrail.store import EventStore
from exectrail.store.codec import event_to_row, row_to_event
from exectrail.store.reader import SELECT_EVENTS, fetch_events, filter_sql, register_functions
from exectrail.store.verify import verify
from tests.support.strategies import distinct, extreme_events

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(event=extreme_events())
def test_json_and_row_round_trip(event: ExecEvent) -> None:
    assert ExecEvent.from_dict(orjson.loads(orjson.dumps(event_to_dict(event)))) == event
    assert row_to_event(event_to_row(event)) == event


@SETTINGS
@given(events=st.lists(extreme_events(), min_size=1, max_size=12).map(distinct))
def test_store_takes_and_returns_extreme_values(tmp_path_factory: object, events: list[ExecEvent]) -> None:
    db = tmp_path_factory.mktemp("x") / "x.db"  # type: ignore[attr-defined]
    with EventStore(db) as store, store.writer() as writer:
        for event in events:
            assert writer.add(event)
    with EventStore(db, readonly=True) as store:
        assert verify(store.conn).ok
        stored = list(fetch_events(store.conn, SELECT_EVENTS + " ORDER BY e.seq"))
        assert stored == events
        register_functions(store.conn)
        first = events[0]
        flt = EventFilter(
            pids=frozenset({first.pid}) if first.pid is not None else frozenset(),
            success=first.success,
        )
        where = filter_sql(flt)
        found = list(fetch_events(store.conn, SELECT_EVENTS + where.sql() + " ORDER BY e.seq", where.params))
        assert found == [e for e in events if flt.matches(e)]
