"""Session-wide real servers (rsyslog, ClickHouse) and real events for the sink tests.

Outside CI a missing server skips its tests; with ``CI=true`` it fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.sinks.servers import ClickHouse, Rsyslog, ServerUnavailable
from tests.support.ci import skip_or_fail

DATA = Path(__file__).resolve().parents[1] / "data"
LOGS = ("workload_enriched.log", "workload_raw_node.log.gz", "interleaved_concurrent.log")


def unavailable(reason: str) -> None:
    skip_or_fail(f"server: {reason}")


@pytest.fixture(scope="session")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    server = None
    try:
        server = Rsyslog(tmp_path_factory.mktemp("rsyslog"))
        server.start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    assert server is not None
    yield server
    server.stop()


@pytest.fixture
def live_rsyslog(rsyslog: Rsyslog) -> Rsyslog:
    """The session rsyslog, restarted if an earlier test left it stopped."""
    if rsyslog.proc is None or rsyslog.proc.poll() is not None:
        rsyslog.start()
    return rsyslog


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[ClickHouse]:
    server = None
    try:
        server = ClickHouse()
        server.start()
    except ServerUnavailable as exc:
        if server is not None:
            server.cleanup()
        unavailable(str(exc))
    assert server is not None
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def real_events() -> list[ExecEvent]:
    """Every exec event of the committed real logs (772: long, non-UTF-8, newline, failed execs…)."""
    events: list[ExecEvent] = []
    for name in LOGS:
        events.extend(read_exec_events([DATA / name], Diagnostics()))
    assert len({e.event_id for e in events}) == len(events)
    return events
