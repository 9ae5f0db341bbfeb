"""The search-index check of ``verify``: what it compares the index with, and that any store the
writer makes passes it (so that a mismatch always means the index was changed).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.model import ExecEvent
from exectrail.store import EventStore, codec
from exectrail.store.searchindex import check_search_index, row_search_text
from tests.support.strategies import distinct, exec_events

EXAMPLES = int(os.environ.get("EXECTRAIL_EXAMPLES", "100"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None)
STORES = settings(  # each example makes a store: fewer
    max_examples=max(EXAMPLES // 5, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(event=exec_events())
def test_row_text_is_what_the_writer_indexes(event: ExecEvent) -> None:
    """verify rebuilds the index from the stored argv and path columns alone."""
    row = codec.event_to_row(event)
    argv, path = row[codec.COLUMNS.index("argv")], row[codec.COLUMNS.index("path")]
    assert row_search_text(argv, path) == codec.search_text(event)


@STORES
@given(events=st.lists(exec_events(), min_size=1, max_size=40).map(distinct), batch=st.integers(1, 7))
def test_any_store_the_writer_makes_passes(
    tmp_path_factory: pytest.TempPathFactory, events: list[ExecEvent], batch: int
) -> None:
    """Whatever the merge history of the stored segments (batches of any size)."""
    db = tmp_path_factory.mktemp("index") / "events.db"
    with EventStore(db) as store, store.writer(batch_size=batch) as writer:
        for event in events:
            writer.add(event)
    with EventStore(db, readonly=True) as store:
        assert check_search_index(store.conn) is None


@STORES
@given(events=st.lists(exec_events(), min_size=2, max_size=20).map(distinct), data=st.data())
def test_one_word_moved_is_found(
    tmp_path_factory: pytest.TempPathFactory, events: list[ExecEvent], data: st.DataObject
) -> None:
    """Any single entry of the index moved to another row is named, whatever the store holds."""
    db = tmp_path_factory.mktemp("moved") / "events.db"
    with EventStore(db) as store, store.writer(batch_size=3) as writer:
        for event in events:
            writer.add(event)
    conn = sqlite3.connect(db)
    texts = {
        seq: row_search_text(argv, path)
        for seq, argv, path in conn.execute("SELECT seq, argv, path FROM events")
    }
    conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, events_fts, instance)")
    worded = sorted({doc for (doc,) in conn.execute("SELECT doc FROM temp.v")})  # rows with indexed words
    if not worded or len(texts) < 2:
        conn.close()
        return
    victim = data.draw(st.sampled_from(worded), label="row")
    other = data.draw(st.sampled_from([s for s in texts if s != victim]), label="other")
    text = texts[victim]
    assert text is not None
    conn.execute(
        "INSERT INTO events_fts (events_fts, rowid, cmdline) VALUES ('delete', ?, ?)", (victim, text)
    )
    conn.execute("INSERT INTO events_fts (rowid, cmdline) VALUES (?, ?)", (other, text))
    conn.commit()
    conn.close()
    with EventStore(db, readonly=True) as store:
        found = check_search_index(store.conn)
        assert store.conn.execute("SELECT count(*) FROM temp.sqlite_master").fetchone()[0] == 0
    assert found is not None and found[0] in ("edited", "wiped"), found
    assert f"row {victim} (" in found[1] or found[0] == "wiped", found


def test_temporary_tables_are_dropped(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    EventStore(db).close()
    with EventStore(db, readonly=True) as store:
        assert check_search_index(store.conn) is None
        assert store.conn.execute("SELECT count(*) FROM temp.sqlite_master").fetchone()[0] == 0
