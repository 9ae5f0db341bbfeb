"""Sink URL parsing and the jsonl sink (append, fsync per batch, rotation by size)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from exectrail.errors import UsageError
from exectrail.model import ExecEvent
from exectrail.sinks import SinkError, SinkSet, parse_sink_url, parse_size
from exectrail.sinks.base import Message
from exectrail.sinks.jsonl import JsonlSink
from tests.support.sink_checks import argv_bytes, expected_body


def test_urls_parse_with_defaults_and_redaction(tmp_path: Path) -> None:
    tcp = parse_sink_url("syslog+tcp://collector.example:1514")
    assert (tcp.scheme, tcp.host, tcp.port) == ("syslog+tcp", "collector.example", 1514)
    assert parse_sink_url("syslog+tls://h").port == 6514 and parse_sink_url("syslog+udp://h").port == 514
    ch = parse_sink_url("clickhouse+http://alice:s3cr%40t@db:8123/audit?table=execs&timeout=3")
    assert (ch.user, ch.password, ch.path, ch.params["table"], ch.timeout()) == (
        "alice",
        "s3cr@t",
        "audit",
        "execs",
        3,
    )
    assert "s3cr" not in ch.display and ch.display.startswith("clickhouse+http://alice:***@db")
    assert parse_sink_url("jsonl:///var/log/x.jsonl").path == "/var/log/x.jsonl"
    ca1, ca2 = tmp_path / "ca1.pem", tmp_path / "ca2.pem"  # a minimal root has no /etc/hosts
    ca1.write_text("1")
    ca2.write_text("2")
    assert parse_sink_url(f"syslog+tls://h?ca={ca1}").slug == parse_sink_url(f"syslog+tls://h?ca={ca2}").slug
    assert parse_sink_url("syslog+tcp://h:1").slug != parse_sink_url("syslog+tcp://h:2").slug
    assert parse_size("1G") == 1 << 30 and parse_size("500M") == 500 << 20 and parse_size("64k") == 65536


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x", "unknown kind; use one of syslog+tcp"),
        ("syslog+tcp://h:514?tiemout=3", "unknown parameter tiemout"),
        ("syslog+tcp://:514", "needs a host"),
        ("syslog+tcp://h:99999", "Port out of range"),
        ("syslog+tls://h?ca=/nonexistent/ca.pem", "ca file '/nonexistent/ca.pem' does not exist"),
        ("syslog+tcp://h?timeout=0", "timeout wants a positive number"),
        ("clickhouse+http://h/db?table=x;drop", "table name 'x;drop' is not a plain identifier"),
        ("jsonl://", "needs a file path"),
        ("syslog+tcp://h?facility=nope", "unknown facility 'nope'"),
    ],
)
def test_bad_urls_are_one_line_usage_errors(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=None) as info:
        SinkSet.from_urls([url], tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_same_receiver_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="given twice"):
        SinkSet.from_urls(["syslog+tcp://h:1", "syslog+tcp://h:1?timeout=2"], tmp_path)


def test_jsonl_appends_exact_events(real_events: list[ExecEvent], tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    out.write_bytes(b'{"earlier":1}\n')
    sinks = SinkSet.from_urls([f"jsonl://{out}"], tmp_path / "spool", host="j")
    for event in real_events:
        sinks.submit(event)
    [summary] = sinks.close()
    assert summary.delivered == len(real_events)
    lines = out.read_bytes().splitlines()
    assert lines[0] == b'{"earlier":1}' and len(lines) == len(real_events) + 1
    for line, event in zip(lines[1:], real_events, strict=True):
        body = orjson.loads(line)
        assert body == expected_body(event, "j") and argv_bytes(body) == event.argv


def test_jsonl_rotates_by_size(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    sink = JsonlSink(parse_sink_url(f"jsonl://{out}?max_size=1k&keep=2"))
    batch = [Message({"id": f"{i}", "pad": "x" * 100}) for i in range(5)]  # ~600 bytes
    for _ in range(5):
        sink.send(batch)
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    assert all(p.stat().st_size <= 1024 for p in tmp_path.iterdir())


def test_jsonl_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    sink = JsonlSink(parse_sink_url(f"jsonl://{tmp_path}/file/x.jsonl"))
    with pytest.raises(SinkError, match=r"^cannot open /.*/file/x.jsonl: Not a directory$"):
        sink.send([Message({"id": "1"})])


def test_jsonl_output_is_private_and_never_follows_a_link(tmp_path: Path) -> None:
    """0600 in a directory made 0700; a planted symlink or a directory others can write is refused."""
    sink = JsonlSink(parse_sink_url(f"jsonl://{tmp_path}/new-dir/x.jsonl"))
    sink.send([Message({"id": "1"})])
    sink.close()
    assert (tmp_path / "new-dir").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new-dir" / "x.jsonl").stat().st_mode & 0o777 == 0o600
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (tmp_path / "link.jsonl").symlink_to(victim)
    with pytest.raises(SinkError, match="link"):
        JsonlSink(parse_sink_url(f"jsonl://{tmp_path}/link.jsonl")).send([Message({"id": "2"})])
    assert victim.read_bytes() == b"precious\n"
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    with pytest.raises(SinkError, match="writable by others"):
        JsonlSink(parse_sink_url(f"jsonl://{loose}/x.jsonl")).send([Message({"id": "3"})])


def test_sqlite_sink_stores_each_event_and_alarm_once(real_events: list[ExecEvent], tmp_path: Path) -> None:
    """Events and alarms are stored once however often they are sent; heartbeats are taken and not
    stored (not a drop); an unknown message type is refused and counted."""
    from datetime import UTC, datetime

    from exectrail.model import Alarm
    from exectrail.store import EventStore
    from exectrail.store.alarms import alarm_message_body, read_alarms

    when = datetime(2026, 11, 25, 15, 15, 4, 714000, tzinfo=UTC)
    alarm = Alarm(
        "audit-disabled", when, "audit was disabled", details={"new": 0}, evidence=("type=CONFIG_CHANGE …",)
    )
    db = tmp_path / "events.db"
    for _ in range(2):  # the second run re-sends everything: the store keeps one copy
        sinks = SinkSet.from_urls([f"sqlite://{db}"], tmp_path / "spool", host="s")
        for event in real_events:
            sinks.submit(event)
        sinks.submit_message({"type": "heartbeat", "id": "hb-1", "time": "2026-11-25T15:15:05.000Z"})
        sinks.submit_message(alarm_message_body(alarm))
        sinks.submit_message({"type": "mystery", "id": "m-1"})
        [summary] = sinks.close()
        assert (summary.delivered, summary.dropped) == (len(real_events) + 2, 1)
    with EventStore(db, readonly=True) as store:
        assert store.count() == len(real_events)
    [stored] = read_alarms(db)
    assert (stored.kind, stored.time, stored.host, stored.details) == (
        "audit-disabled",
        when,
        "s",
        {"new": 0},
    )
    assert stored.evidence == alarm.evidence


def test_spooled_events_rebuild_exactly(real_events: list[ExecEvent]) -> None:
    from exectrail.sinks.base import event_message
    from exectrail.sinks.sqlite import event_from_body

    def utf8(text: str | None) -> bool:
        return text is None or text == text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    for event in real_events:
        rebuilt = event_from_body(Message.from_json(event_message(event, "h").json).body)
        assert rebuilt.argv == event.argv and rebuilt.event_id == event.event_id
        if all(utf8(t) for t in (event.comm, event.exe, event.cwd, event.path, event.key, event.proctitle)):
            assert rebuilt == event
