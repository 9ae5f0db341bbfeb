"""The ``format=`` of the syslog and jsonl sinks: exec events and alarms leave in ECS or OCSF, mapped
at send time (the spool keeps exectrail's own JSON), heartbeats as they are; the parameter table of
docs/forwarding.md lists what the registry declares."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from exectrail.enrich.identity import host_identity
from exectrail.errors import UsageError
from exectrail.model import Alarm, ExecEvent
from exectrail.output.ecs import HostInfo, alarm_to_ecs, event_to_ecs
from exectrail.output.mapped import MAPPINGS
from exectrail.output.ocsf import alarm_to_ocsf, event_to_ocsf
from exectrail.sinks import SinkSet, Tuning
from exectrail.sinks.base import Message, event_message
from exectrail.sinks.registry import kinds, parse_sink_url
from exectrail.sinks.spec import BODY_FORMATS
from exectrail.sinks.syslog import SyslogSink
from exectrail.store.alarms import alarm_message_body
from tests.support.paths import DOCS
from tests.support.sink_checks import expected_body

FAST = Tuning(retry_initial=0.05, retry_max=0.2)
ALARM = Alarm(
    "rules-removed",
    datetime(2026, 11, 25, 15, 15, 4, 714000, tzinfo=UTC),
    "the procmon rules were deleted",
    details={"rules": 2},
    evidence=('type=CONFIG_CHANGE msg=audit(1795619704.714:900): op=remove_rule key="procmon"',),
)
HEARTBEAT = {"type": "heartbeat", "id": "hb-1", "time": "2026-11-25T15:15:05.000Z", "events": 7}
THIS_HOST = HostInfo(socket.gethostname(), host_identity())


def test_the_formats_are_exectrail_and_the_mappings() -> None:
    assert ("exectrail", *MAPPINGS) == BODY_FORMATS
    with pytest.raises(UsageError, match=r"format wants one of exectrail, ecs, ocsf, got 'csv'$"):
        parse_sink_url("jsonl:///tmp/x.jsonl?format=csv")
    for scheme in ("clickhouse+http://h/db", "sqlite:///tmp/x.db"):  # their own schema: no format=
        with pytest.raises(UsageError, match="unknown parameter format"):
            parse_sink_url(f"{scheme}?format=ecs")


def test_jsonl_sink_writes_ecs_and_spools_exectrail_json(
    real_events: list[ExecEvent], tmp_path: Path
) -> None:
    """First run: the file cannot be made, everything waits in the spool as exectrail's JSON. Second
    run: the file can be made and the spool is replayed, mapped to ECS on the way out."""
    blocker = tmp_path / "out"
    blocker.write_text("a file where the directory should be")
    out = blocker / "events.jsonl"
    url = f"jsonl://{out}?format=ecs"
    spool = tmp_path / "spool"
    events = real_events[:300]
    warnings: list[str] = []
    sinks = SinkSet.from_urls([url], spool, host="fmt-host", warn=warnings.append, tuning=FAST)
    for event in events:
        sinks.submit(event)
    sinks.submit_message(alarm_message_body(ALARM))
    sinks.submit_message(dict(HEARTBEAT))
    [summary] = sinks.close(0.5)
    assert (summary.delivered, summary.pending) == (0, len(events) + 2)
    spooled = [
        orjson.loads(line)
        for batch in sorted(spool.glob("*/*.batch"))
        for line in batch.read_bytes().splitlines()[1:]  # after the signature line
    ]
    expected = [expected_body(e, "fmt-host") for e in events]
    alarm = alarm_message_body(ALARM)
    alarm["host"] = "fmt-host"
    heartbeat = dict(HEARTBEAT, host="fmt-host")
    assert spooled == [*expected, alarm, heartbeat]  # exectrail's own JSON, not ECS

    blocker.unlink()
    sinks = SinkSet.from_urls([url], spool, host="fmt-host", warn=warnings.append, tuning=FAST)
    [summary] = sinks.close(30)
    assert (summary.delivered, summary.pending, summary.dropped) == (len(events) + 2, 0, 0)
    host = HostInfo("fmt-host", None)  # not this host's name: its machine id is not known
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert written[:-2] == [event_to_ecs(body, host) for body in expected]
    assert written[-2] == alarm_to_ecs(alarm, host) and written[-2]["event"]["id"] == alarm["id"]
    assert written[-1] == heartbeat
    assert {w["event"]["kind"] for w in written[:-1]} == {"event", "alert"}


def test_jsonl_sink_names_this_host_with_its_machine_id(real_events: list[ExecEvent], tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    sinks = SinkSet.from_urls([f"jsonl://{out}?format=ocsf"], tmp_path / "spool", tuning=FAST)
    for event in real_events[:50]:
        sinks.submit(event)
    [summary] = sinks.close(30)
    assert summary.delivered == 50
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    bodies = [expected_body(e, THIS_HOST.hostname or "") for e in real_events[:50]]
    assert written == [event_to_ocsf(body, THIS_HOST) for body in bodies]
    assert any(w["device"].get("uid") == THIS_HOST.host_id for w in written)


@pytest.mark.parametrize("schema", ["ecs", "ocsf"])
def test_syslog_body_is_mapped_and_the_header_kept(real_events: list[ExecEvent], schema: str) -> None:
    plain = SyslogSink(parse_sink_url("syslog+tcp://127.0.0.1:1"))
    mapped = SyslogSink(parse_sink_url(f"syslog+tcp://127.0.0.1:1?format={schema}"))
    on_event, on_alarm = {"ecs": (event_to_ecs, alarm_to_ecs), "ocsf": (event_to_ocsf, alarm_to_ocsf)}[schema]
    host = HostInfo("sys-host", None)
    alarm = alarm_message_body(ALARM, "sys-host")
    messages = [
        *(event_message(e, "sys-host") for e in real_events[:100]),
        Message(alarm),
        Message(dict(HEARTBEAT, host="sys-host")),
    ]
    for message in messages:
        header, _, body = plain.encode(message).partition(b" - ")
        mapped_header, _, mapped_body = mapped.encode(message).partition(b" - ")
        assert mapped_header == header and b" sys-host exectrail " in header
        kind = message.body["type"]
        want: dict[str, Any] = message.body
        if kind == "exec":
            want = on_event(message.body, host)
        elif kind == "alarm":
            want = on_alarm(message.body, host)
        assert orjson.loads(mapped_body) == want
        assert body == message.json
    plain.close()
    mapped.close()


def test_the_parameter_table_lists_every_parameter_of_every_sink() -> None:
    """docs/forwarding.md's table: each parameter a sink declares is on a row naming that sink."""
    text = (DOCS / "forwarding.md").read_text()
    rows = [line.split(" | ") for line in text.splitlines() if re.match(r"\| `[a-z_]+=", line)]
    assert rows
    missing = []
    for kind in kinds().values():
        for param in kind.params:
            listed = [
                r
                for r in rows
                if re.search(rf"`{param.name}=", r[0])
                and any(kind.scheme == s or (s.endswith("*") and kind.scheme.startswith(s[:-1]))
                        for s in re.findall(r"`([a-z+*]+)`", r[1]))
            ]  # fmt: skip
            if not listed:
                missing.append(f"{kind.scheme}: {param.name}=")
    assert missing == []
