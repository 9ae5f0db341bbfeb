"""One writer importing while readers query: readers never fail or see a broken chain."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

from exectrail.filters import EventFilter
from exectrail.model import ExecEvent
from exectrail.query.report import report
from exectrail.query.search import SearchQuery, search
from exectrail.query.tree import process_tree
from exectrail.store import EventStore
from exectrail.store.verify import verify
from tests.support.strategies import replicate


def _import(db: str, events: list[ExecEvent], started: Any) -> int:
    with EventStore(db) as store, store.writer(batch_size=500) as writer:
        started.set()
        for event in events:
            writer.add(event)
    return writer.stats.stored


def test_readers_during_an_import(db: Path, real_events: list[ExecEvent]) -> None:
    events = replicate(real_events, 40)  # ~31,000 events
    EventStore(db).close()
    ctx = multiprocessing.get_context("spawn")
    errors: list[BaseException] = []
    seen: list[tuple[int, int, bool]] = []
    stop = threading.Event()
    last_pid = real_events[-1].pid
    assert last_pid is not None

    def reader(kind: int) -> None:
        try:
            with EventStore(db, readonly=True) as store:
                while not stop.is_set():
                    count = store.count()
                    if kind == 0:
                        found = len(
                            list(
                                search(
                                    store.conn,
                                    SearchQuery(EventFilter(comms=("exec_chain",)), ("concurrent-3",)),
                                )
                            )
                        )
                        seen.append((count, found, True))
                    elif kind == 1:
                        result = verify(store.conn)
                        seen.append((count, result.rows, result.ok))
                    else:
                        report(store.conn, top=3)
                        process_tree(store.conn, last_pid)
                        seen.append((count, 0, True))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with ctx.Manager() as manager, ctx.Pool(1) as pool:
        started = manager.Event()
        job = pool.apply_async(_import, (str(db), events, started))
        started.wait(60)
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(3)]
        for thread in threads:
            thread.start()
        stored = job.get(timeout=600)
        time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    assert stored == len(events)
    assert all(ok for _, _, ok in seen) and len(seen) > 5
    counts = [c for c, _, _ in seen]
    assert min(counts) < len(events) and max(counts) == len(events)  # they really ran during the import
    with EventStore(db, readonly=True) as store:
        assert verify(store.conn).rows == len(events)
