"""Syslog sinks against a real rsyslog on 127.0.0.1 (TCP, TLS, UDP) and against broken receivers.

Only the tests that need rsyslog carry the ``server`` marker; those against a plain Python socket
listener (refused, hung, reset) run everywhere.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exectrail.model import ExecEvent
from exectrail.sinks import SinkError, SinkSet, SinkSummary, Tuning
from tests.support.servers import Rsyslog, free_port, hung_listener
from tests.support.sink_checks import check_exact

server = pytest.mark.server  # needs the real rsyslog
FAST = Tuning(retry_initial=0.05, retry_max=0.5)


def forward(
    urls: list[str], events: list[ExecEvent], spool: Path, host: str, wait: float = 30.0
) -> tuple[list[SinkSummary], list[str]]:
    warnings: list[str] = []
    sinks = SinkSet.from_urls(urls, spool, host=host, warn=warnings.append, tuning=FAST)
    for event in events:
        sinks.submit(event)
    return sinks.close(wait), warnings


@server
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_every_real_event_arrives_once_byte_exact(
    live_rsyslog: Rsyslog, real_events: list[ExecEvent], tmp_path: Path, transport: str
) -> None:
    tricky = [e for e in real_events if e.argv and any(b"\n" in a or not a.isascii() for a in e.argv)]
    assert tricky and max(sum(map(len, e.argv or ())) for e in real_events) > 100_000
    url = live_rsyslog.tcp_url if transport == "tcp" else live_rsyslog.tls_url
    host = f"exact-{transport}"
    [summary], warnings = forward([url], real_events, tmp_path, host)
    assert (summary.delivered, summary.pending, summary.dropped) == (len(real_events), 0, 0)
    assert warnings == []
    check_exact(live_rsyslog, host, real_events)


@server
def test_wrong_ca_keeps_everything_then_right_ca_delivers_in_order(
    live_rsyslog: Rsyslog, real_events: list[ExecEvent], tmp_path: Path
) -> None:
    events = real_events[:300]
    wrong = live_rsyslog.tls_url.replace("ca.pem", "other-ca.pem")
    [summary], warnings = forward([wrong], events, tmp_path, "wrong-ca", wait=1.0)
    assert (summary.delivered, summary.pending, summary.dropped) == (0, len(events), 0)
    assert summary.last_error and "certificate" in summary.last_error and "rejected" in summary.last_error
    assert any("unable to get local issuer certificate" in w for w in warnings)
    assert live_rsyslog.count("wrong-ca") == 0
    [summary], warnings = forward([live_rsyslog.tls_url], [], tmp_path, "wrong-ca")  # the next run
    assert any(f"{len(events)} events left from an earlier run" in w for w in warnings)
    assert (summary.delivered, summary.pending) == (len(events), 0)
    check_exact(live_rsyslog, "wrong-ca", events)


@server
def test_wrong_server_name_is_rejected(
    live_rsyslog: Rsyslog, real_events: list[ExecEvent], tmp_path: Path
) -> None:
    url = f"{live_rsyslog.tls_url}&server_name=collector.example.org"
    [summary], _ = forward([url], real_events[:5], tmp_path, "wrong-name", wait=0.5)
    assert summary.pending == 5
    assert summary.last_error and "Hostname mismatch" in summary.last_error


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"syslog+tcp://127.0.0.1:{free_port()}", "connection refused"),
        (
            "syslog+tcp://exectrail-no-such-host.invalid:514",
            "cannot resolve host 'exectrail-no-such-host.invalid'",
        ),
        (f"syslog+tls://127.0.0.1:{free_port()}", "connection refused"),
    ],
)
def test_unreachable_receiver_is_named_and_nothing_is_lost(
    real_events: list[ExecEvent], tmp_path: Path, url: str, reason: str
) -> None:
    [summary], warnings = forward([url], real_events[:50], tmp_path, "unreachable", wait=0.5)
    assert (summary.delivered, summary.pending, summary.dropped) == (0, 50, 0)
    assert summary.last_error and reason in summary.last_error
    assert warnings and reason in warnings[0] and "retrying" in warnings[0]


@pytest.fixture
def silent_receiver() -> Iterator[int]:
    """A TCP listener that accepts connections and never reads (a hung collector)."""
    with hung_listener(rcvbuf=4096) as port:
        yield port


def test_hanging_receiver_times_out_and_keeps_events(
    silent_receiver: int, real_events: list[ExecEvent], tmp_path: Path
) -> None:
    url = f"syslog+tcp://127.0.0.1:{silent_receiver}?timeout=1"
    [summary], _warnings = forward([url], real_events, tmp_path, "hung", wait=2.0)
    assert summary.dropped == 0 and summary.delivered + summary.pending == len(real_events)
    assert summary.pending > 0
    assert summary.last_error and "timed out after 1 s" in summary.last_error


@server
def test_udp_delivers_small_events_and_counts_oversized_ones(
    live_rsyslog: Rsyslog, real_events: list[ExecEvent], tmp_path: Path
) -> None:
    small = [e for e in real_events if e.argv and sum(map(len, e.argv)) < 2000][:20]
    huge = [e for e in real_events if e.argv and sum(map(len, e.argv)) > 100_000][:1]
    [summary], warnings = forward([live_rsyslog.udp_url], small + huge, tmp_path, "udp")
    assert "UDP can lose events" in warnings[0]
    assert (summary.delivered, summary.dropped) == (len(small), 1)
    assert any("1 events dropped" in w and "UDP datagram" in w for w in warnings)
    bodies = live_rsyslog.wait_for("udp", len(small), timeout=10)
    assert sorted(b["id"] for b in bodies) == sorted(e.event_id for e in small)


def test_batches_acknowledged_but_unread_are_sent_again_after_a_reset(
    real_events: list[ExecEvent], tmp_path: Path
) -> None:
    """TCP acknowledgement is not receipt: a receiver that dies with unread data loses it, so the
    sink sends the last acknowledged batches again on the new connection."""
    from exectrail.sinks.base import event_message
    from exectrail.sinks.syslog import SyslogSink
    from exectrail.sinks.url import parse_sink_url

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    second: list[bytes] = []

    def serve() -> None:
        first, _ = server.accept()
        time.sleep(0.3)
        first.close()  # unread data: the kernel answers with a reset, the data is gone
        conn, _ = server.accept()
        conn.settimeout(2)
        try:
            while chunk := conn.recv(65536):
                second.append(chunk)
        except OSError:
            pass
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sink = SyslogSink(parse_sink_url(f"syslog+tcp://127.0.0.1:{port}?timeout=2"))
    one = [event_message(e, "replay") for e in real_events[:3]]
    two = [event_message(e, "replay") for e in real_events[3:6]]
    assert sink.send(one) == 0  # acknowledged by the kernel, never read
    time.sleep(0.6)
    with pytest.raises(SinkError):
        for _ in range(20):  # the reset shows on the next send (or the acknowledgement wait)
            sink.send(two)
            time.sleep(0.05)
    sink.send(two)
    sink.close()
    thread.join(5)
    server.close()
    data = b"".join(second)
    assert data.startswith(sink.frame(one))
    assert all(m.id.encode() in data for m in one + two)
