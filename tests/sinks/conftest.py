"""Session-wide real servers (rsyslog, ClickHouse; tests.support.servers) and real events for the sink
tests.

Outside CI a missing server skips its tests; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import pytest

from exectrail.model import ExecEvent
from tests.support.servers import clickhouse, live_relp_rsyslog, live_rsyslog, relp_rsyslog, rsyslog

__all__ = ["clickhouse", "live_relp_rsyslog", "live_rsyslog", "real_events", "relp_rsyslog", "rsyslog"]


@pytest.fixture(scope="session")
def real_events(real_events: list[ExecEvent]) -> list[ExecEvent]:
    """Every exec event of the committed real logs (772: long, non-UTF-8, newline, failed execs…): the
    root conftest's, each event once."""
    events = real_events
    assert len({e.event_id for e in events}) == len(events)
    return events
