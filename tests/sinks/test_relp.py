"""The RELP sink: URL parameters, protocol edge cases against a scripted receiver (support/relp_fake.py),
and a real rsyslog imrelp (``server`` marker): byte-exact delivery over relp and relp+tls, sessions
reopened before the txnr wraps, and SIGTERM restarts of rsyslog in mid-stream with 0 lost, 0 duplicates."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from exectrail.errors import UsageError
from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from exectrail.sinks import SinkError, SinkSet, Tuning
from exectrail.sinks.base import Message
from exectrail.sinks.registry import open_sink, parse_sink_url
from exectrail.sinks.relp import DEFAULT_PORT, DEFAULT_WINDOW, RelpSink
from exectrail.sinks.relpframe import Frame, encode
from tests.support.biglog import write_big_log
from tests.support.paths import DATA
from tests.support.relp_fake import Session, fake_relp, obliging
from tests.support.servers import Rsyslog, free_port, hung_listener, wait_until
from tests.support.sink_checks import check_exact

server = pytest.mark.server
FAST = Tuning(retry_initial=0.05, retry_max=0.5)


def relp_sink(url: str) -> RelpSink:
    sink = open_sink(parse_sink_url(url))
    assert isinstance(sink, RelpSink)
    return sink


def messages(count: int, host: str = "fake") -> list[Message]:
    body = {"type": "exec", "host": host, "time": "2026-01-01T00:00:00Z"}
    return [Message({**body, "id": f"{host}-{i}"}) for i in range(count)]


def ids_sent(frames: list[Frame]) -> list[str]:
    """The event ids in the syslog commands a fake receiver got, in order."""
    return [f.data.split(b'"id":"')[1].split(b'"')[0].decode() for f in frames if f.command == "syslog"]


# -- URLs ----------------------------------------------------------------------------------------


def test_url_defaults_and_window_bounds(tmp_path: Path) -> None:
    sink = relp_sink("relp://127.0.0.1")
    assert (sink._port, sink.window) == (DEFAULT_PORT, DEFAULT_WINDOW) == (2514, DEFAULT_WINDOW)
    assert relp_sink("relp://h:1?window=1024").window == 1024
    for bad in ("0", "1025", "x", "", "-1", "٣"):
        with pytest.raises(UsageError, match=r"window wants a whole number 1\.\.1024"):
            parse_sink_url(f"relp://h?window={bad}")
    (tmp_path / "c.pem").write_text("")
    with pytest.raises(UsageError, match="cert= and key= go together"):
        parse_sink_url(f"relp+tls://h?cert={tmp_path}/c.pem")
    with pytest.raises(UsageError, match="unknown facility"):
        relp_sink("relp://h?facility=nope")


# -- protocol edge cases against a scripted receiver ---------------------------------------------------


def test_pipelined_commands_with_consecutive_txnrs_and_a_clean_close() -> None:
    with fake_relp(obliging) as (port, frames, errors):
        sink = relp_sink(f"relp://127.0.0.1:{port}?window=4")
        batch = messages(10)
        assert sink.send(batch) == 0
        sink.close()
        wait_until(lambda: any(f.command == "close" for f in frames), 5, "the close command")
    assert errors == []
    assert [f.command for f in frames] == ["open"] + ["syslog"] * 10 + ["close"]
    assert [f.txnr for f in frames] == list(range(1, 13))
    assert ids_sent(frames) == [m.id for m in batch]
    assert frames[1].data == sink.rfc5424.encode(batch[0])  # the same RFC 5424 message the syslog sink sends


def test_a_500_rsp_is_the_receivers_reason_and_only_the_rest_is_sent_again() -> None:
    def refuse_fourth(session: Session) -> None:
        session.accept_open()
        session.serve(3)
        frame = session.read()
        assert frame is not None
        session.rsp(frame, b"500 disk full")
        session.serve()

    with fake_relp(refuse_fourth, obliging) as (port, frames, errors):
        sink = relp_sink(f"relp://127.0.0.1:{port}?window=1")
        batch = messages(6)
        with pytest.raises(SinkError) as info:
            sink.send(batch)
        assert str(info.value) == f"RELP to 127.0.0.1:{port}: the receiver refused message 5: 500 disk full"
        assert sink.send(batch) == 0
        sink.close()
    assert errors == []
    assert ids_sent(frames) == [m.id for m in batch[:4]] + [m.id for m in batch[3:]]


def test_serverclose_ends_the_session_and_the_next_send_reconnects() -> None:
    def close_after_two(session: Session) -> None:
        session.accept_open()
        session.serve(2)
        session.write(encode(0, "serverclose"))

    with fake_relp(close_after_two, obliging) as (port, frames, errors):
        sink = relp_sink(f"relp://127.0.0.1:{port}?window=1")
        batch = messages(5)
        with pytest.raises(SinkError, match=r"the receiver closed the session \(serverclose\)$"):
            sink.send(batch)
        assert sink.send(batch) == 0
        assert sink.sessions == 2
    assert errors == []
    assert ids_sent(frames) == [m.id for m in batch]  # the third was sent, never read, sent again


def test_rsps_read_after_the_connection_broke_count_as_delivered() -> None:
    """The receiver answers 5 of 8 commands in flight and closes: those 5 are not sent again."""

    def answer_five_and_go(session: Session) -> None:
        session.accept_open()
        got = [session.read() for _ in range(8)]
        session.write(b"".join(encode(f.txnr, "rsp", b"200 OK") for f in got[:5] if f is not None))
        session.conn.shutdown(socket.SHUT_WR)
        time.sleep(0.2)

    with fake_relp(answer_five_and_go, obliging) as (port, frames, errors):
        sink = relp_sink(f"relp://127.0.0.1:{port}?window=8")
        batch = messages(8)
        with pytest.raises(SinkError, match="the receiver closed the connection"):
            sink.send(batch)
        assert sink.send(batch) == 0
    assert errors == []
    assert ids_sent(frames) == [m.id for m in batch] + [m.id for m in batch[5:]]
    second_session = [f for f in frames if f.command in ("open", "syslog")][9:]
    assert [f.txnr for f in second_session] == [1, 2, 3, 4]  # resent with new txnrs


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"2 rsp 6 200 OKgarbage", "RELP rsp frame not ended by LF after 6 bytes of data"),
        (b"HTTP/1.0 400 Bad Request\r\n\r\n", "malformed RELP frame header b'HTTP/"),
        (b"5 rsp 6 200 OK\n", "rsp for txnr 5, expected 2"),
        (b"2 rsp 999999 ", "RELP rsp frame announces 999999 bytes (at most 65536)"),
        (b"2 rsp 2 OK\n", "RELP rsp without a status code: b'OK'"),
        (b"2 syslog 1 x\n", "unexpected 'syslog' command from the receiver"),
    ],
)
def test_a_receiver_that_lies_is_a_one_line_error(reply: bytes, reason: str) -> None:
    def lie(session: Session) -> None:
        session.accept_open()
        session.read()
        session.write(reply)
        time.sleep(0.5)

    with fake_relp(lie) as (port, _, errors):
        sink = relp_sink(f"relp://127.0.0.1:{port}?window=1&timeout=2")
        with pytest.raises(SinkError) as info:
            sink.send(messages(1))
        sink.close()
    assert errors == []
    assert reason in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("open_reply", "reason"),
    [
        (b"500 required command not supported by client", "the receiver refused the session: 500 required"),
        (b"200 OK\nrelp_version=0\ncommands=", "the receiver does not offer the syslog command"),
    ],
)
def test_a_refused_open_is_a_one_line_error(open_reply: bytes, reason: str) -> None:
    def refuse(session: Session) -> None:
        frame = session.read()
        assert frame is not None
        session.rsp(frame, open_reply)
        time.sleep(0.3)

    with fake_relp(refuse) as (port, _, errors), pytest.raises(SinkError, match=reason):
        relp_sink(f"relp://127.0.0.1:{port}").send(messages(1))
    assert errors == []


def test_a_silent_receiver_times_out() -> None:
    def silent_after_open(session: Session) -> None:
        session.accept_open()
        while session.read() is not None:
            pass

    with fake_relp(silent_after_open) as (port, _, _):
        _times_out_soon(port)


def test_a_receiver_that_never_reads_times_out() -> None:
    with hung_listener(rcvbuf=4096) as port:
        _times_out_soon(port)


def _times_out_soon(port: int) -> None:
    """A send to ``port`` with a 0.5 s timeout fails with one line within 3 s."""
    sink = relp_sink(f"relp://127.0.0.1:{port}?timeout=0.5")
    start = time.monotonic()
    with pytest.raises(SinkError, match=r"^RELP to 127\.0\.0\.1:[0-9]+: timed out after 0\.5 s"):
        sink.send(messages(3))
    assert time.monotonic() - start < 3
    sink.close()


def test_a_refused_connection_is_one_line() -> None:
    port = free_port()
    with pytest.raises(SinkError, match=f"^cannot connect to 127.0.0.1:{port}: connection refused$"):
        relp_sink(f"relp://127.0.0.1:{port}").send(messages(1))


def test_the_session_is_reopened_before_the_txnr_passes_its_limit() -> None:
    with fake_relp(obliging) as (port, frames, errors):
        sink = relp_sink(f"relp://127.0.0.1:{port}?window=3")
        sink.max_txnr = 6
        batch = messages(12)
        assert sink.send(batch) == 0
    assert errors == []
    assert ids_sent(frames) == [m.id for m in batch]
    assert max(f.txnr for f in frames) == 6 and sink.sessions == 3  # 4 syslog commands per session
    assert [f.command for f in frames][:7] == ["open"] + ["syslog"] * 4 + ["close", "open"]


# -- a real rsyslog with imrelp ------------------------------------------------------------------------


@server
@pytest.mark.parametrize("transport", ["relp", "relp+tls"])
def test_every_real_event_arrives_once_byte_exact(
    live_relp_rsyslog: Rsyslog, real_events: list[ExecEvent], tmp_path: Path, transport: str
) -> None:
    url = live_relp_rsyslog.relp_url if transport == "relp" else live_relp_rsyslog.relp_tls_url
    host = f"exact-{transport}"
    warnings: list[str] = []
    sinks = SinkSet.from_urls([url], tmp_path, host=host, warn=warnings.append, tuning=FAST)
    for event in real_events:
        sinks.submit(event)
    [summary] = sinks.close(30)
    assert (summary.delivered, summary.pending, summary.dropped) == (len(real_events), 0, 0)
    assert warnings == []
    check_exact(live_relp_rsyslog, host, real_events)


@server
def test_real_imrelp_accepts_the_reopened_sessions(live_relp_rsyslog: Rsyslog) -> None:
    sink = relp_sink(live_relp_rsyslog.relp_url + "?window=4")
    sink.max_txnr = 9
    batch = messages(40, "txnr-wrap")
    assert sink.send(batch) == 0
    sink.close()
    assert sink.sessions == 6  # 7 syslog commands per session (txnr 2..8), close is 9
    got = live_relp_rsyslog.wait_for("txnr-wrap", 40)
    assert [body["id"] for body in got] == [m.id for m in batch]


@server
def test_wrong_certificate_authority_is_refused(live_relp_rsyslog: Rsyslog) -> None:
    url = live_relp_rsyslog.relp_tls_url.replace("ca.pem", "other-ca.pem")
    with pytest.raises(SinkError, match=r"TLS certificate of 127\.0\.0\.1:[0-9]+ rejected"):
        relp_sink(url).send(messages(1))


@server
def test_rsyslog_restarted_three_times_mid_stream_loses_and_repeats_nothing(
    live_relp_rsyslog: Rsyslog, tmp_path: Path
) -> None:
    log = tmp_path / "big.log"
    write_big_log(log, 150_000)
    events = list(read_exec_events([log], Diagnostics()))[:20_000]
    assert len(events) == 20_000
    expected = [e.event_id for e in events]
    host = "relp-restarts"
    rsyslog = live_relp_rsyslog
    warnings: list[str] = []
    sinks = SinkSet.from_urls([rsyslog.relp_url], tmp_path / "spool", host=host, warn=warnings.append,
                              tuning=FAST)  # fmt: skip
    stopped_at: list[int] = []

    def restart_three_times() -> None:
        for quarter in (1, 2, 3):
            wait_until(lambda q=quarter: rsyslog.count(host) >= q * 5000, 60, "events", pause=0.02)
            rsyslog.stop()
            stopped_at.append(rsyslog.count(host))
            time.sleep(1)
            rsyslog.start()

    restarter = threading.Thread(target=restart_three_times)
    restarter.start()
    for event in events:
        sinks.submit(event)
    restarter.join(120)
    [summary] = sinks.close(120)
    assert (summary.delivered, summary.pending, summary.dropped) == (len(events), 0, 0)
    assert len(stopped_at) == 3 and stopped_at[-1] < len(events), "each stop should fall inside the run"
    assert sum("retrying, events wait in the spool" in w for w in warnings) >= 3
    ids = [body["id"] for body in rsyslog.wait_for(host, len(events), timeout=60)]
    time.sleep(0.5)  # anything sent twice would be written by now
    ids = [body["id"] for body in rsyslog.bodies(host)]
    assert len(ids) - len(set(ids)) == 0, "duplicates"
    assert ids == expected  # 0 lost, 0 duplicates, in order
    print(f"{len(events)} events, rsyslog stopped at {stopped_at}")


@server
def test_review_forwards_over_relp_end_to_end(live_relp_rsyslog: Rsyslog, tmp_path: Path) -> None:
    log = DATA / "workload_enriched.log"
    url = live_relp_rsyslog.relp_url + "?window=32"
    proc = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "review", str(log), "--format", "jsonl", "--sink", url,
         "--spool", str(tmp_path / "spool"), "--host-name", "relp-cli"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    delivered = re.search(rf"exectrail: sink {re.escape(url)}: (\d+) delivered\n", proc.stderr)
    assert delivered, proc.stderr
    printed = [p for p in map(orjson.loads, proc.stdout.splitlines()) if p["type"] == "exec"]
    bodies = live_relp_rsyslog.wait_for("relp-cli", int(delivered[1]))
    assert len(bodies) == int(delivered[1])
    events = [b for b in bodies if b["type"] == "exec"]
    assert [{k: v for k, v in b.items() if k not in ("host", "id")} for b in events] == printed
    assert len(printed) == 229
