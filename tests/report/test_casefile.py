"""The case report's data: every event survives the columns byte for byte (this machine's captured
logs and the peer logs other projects ship), the tree links, the alarms' blind spans and totals,
the cap on events, and data that cannot break out of its script element."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exectrail.filters import EventFilter
from exectrail.interference import kinds
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm, ExecEvent
from exectrail.output.html import content_policy, embedded_json, render_html
from exectrail.pipeline import read_events
from exectrail.query.casefile import (
    CaseBuilder,
    Made,
    Provenance,
    alarm_span,
    encode_column,
    in_range,
)
from exectrail.schema import HEX_TEXT_FIELDS
from exectrail.timefmt import iso, ms_to_time, time_to_ms
from tests.support.casedata import case_json, column, decoded_events
from tests.support.nonutf8 import RAW, bad_alarm, bad_event
from tests.support.paths import DATA, REPO
from tests.support.pidreuse import FILLER, shifted

PEER = REPO.parent / "shared" / "peer-logs"
CAPTURED = [
    DATA / "workload_enriched.log",
    DATA / "interleaved_concurrent.log",
    DATA / "workload_raw_node.log.gz",
]
MADE = Made(datetime(2026, 12, 3, 21, 0, tzinfo=UTC), "exectrail test", "exectrail report --html x")


def peer_logs() -> list[Path]:
    logs = sorted(p for p in PEER.glob("*/*") if p.suffix in (".log", ".txt"))
    assert len(logs) >= 20, f"the peer logs are beside the clone: {PEER}"
    return logs


def build(events: list[ExecEvent], alarms: list[Alarm] | None = None, **kw: Any) -> dict[str, Any]:
    builder = CaseBuilder(**kw)
    for e in events:
        builder.add(e)
    return builder.build(alarms or [], Provenance("logs", "test"), MADE)


def in_order(events: list[ExecEvent]) -> list[ExecEvent]:
    return sorted(events, key=lambda e: (time_to_ms(e.time), e.node or "", e.serial))


@pytest.mark.parametrize("log", CAPTURED, ids=lambda p: p.name)
def test_captured_events_survive_byte_for_byte(log: Path) -> None:
    events = list(read_events([log]))
    assert events
    data = json.loads(embedded_json(build(events)))
    assert decoded_events(data) == in_order(events)


def test_peer_log_events_survive_byte_for_byte() -> None:
    """Hex arguments, non-UTF-8 bytes, events without SYSCALL, records out of order, other distros."""
    seen = 0
    for log in peer_logs():
        events = list(read_events([log]))
        data = json.loads(embedded_json(build(events)))
        assert decoded_events(data) == in_order(events), log.name
        seen += len(events)
    assert seen > 100


def test_text_that_is_not_utf8_is_shown_escaped_with_its_bytes_beside() -> None:
    event, alarm = bad_event(), bad_alarm()
    data = json.loads(embedded_json(build([event], [alarm])))
    assert decoded_events(data) == [event]
    assert len(data["hex"]) >= len(HEX_TEXT_FIELDS)
    for index, hex_text in data["hex"].items():
        shown = data["strings"][int(index)]
        assert shown == bytes.fromhex(hex_text).decode("utf-8", "backslashreplace")
        assert "\\xff" in shown
    row = data["alarms"][0]
    assert row["host"] == "h\\xf6st" and "/tmp/ev\\xffil/auditctl" in row["summary"]
    assert row["evidence"][0].endswith('exe="/tmp/ev\\xffil/auditctl"')
    assert row["details"]["actor"]["exe_hex"] == RAW.hex()


def test_parents_follow_the_processes() -> None:
    events = list(read_events([DATA / "workload_enriched.log"]))
    data = build(events)
    ordered = in_order(events)
    parent = data["parent"]
    linked = 0
    for i, e in enumerate(ordered):
        p = parent[i]
        if p < 0:
            continue
        linked += 1
        up = ordered[p]
        assert p < i and up.time <= e.time
        assert up.success is not False, "a failed exec changed no program: it is nobody's parent"
        if up.pid == e.pid:
            assert up.ppid == e.ppid  # the same process exec'd again
        else:
            assert up.pid == e.ppid
        if e.parent_exec_id is not None and e.parent_exec_id in {x.exec_id for x in ordered}:
            assert up.exec_id == e.parent_exec_id
    assert linked > len(events) // 2


def _alarm(kind: str, start: str, certainty: str = CERTAIN, **details: Any) -> Alarm:
    return Alarm(
        kind, datetime.fromisoformat(start), "s", certainty, None, details, ("type=X msg=audit(1.0:1):",)
    )


def test_blind_spans_and_totals() -> None:
    alarms = [
        _alarm(kinds.AUDIT_DISABLED, "2026-12-01T10:00:00+00:00", until="2026-12-01T10:01:00.000Z"),
        # overlaps the first by 30 s: the total counts that once
        _alarm(
            kinds.COLLECTOR_STOPPED,
            "2026-12-01T10:00:30+00:00",
            restarted="2026-12-01T10:02:00.000Z",
            events_missing=7,
        ),
        _alarm(kinds.RULES_REMOVED, "2026-12-01T11:00:00+00:00", until=None),  # open to the end
        _alarm(kinds.SILENT_GAP, "2026-12-01T12:00:00+00:00", SUSPICIOUS, until="2026-12-01T12:10:00.000Z"),
        _alarm(kinds.EVENTS_LOST, "2026-12-01T13:00:00+00:00", lost=5),
        _alarm(kinds.EVENTS_LOST, "2026-12-01T13:00:01+00:00", lost=True),  # an edited store: not a count
        _alarm(kinds.EVENTS_MISSING, "2026-12-01T13:00:02+00:00", events_missing=3),
    ]
    summary = build([], alarms)["summary"]
    assert summary["alarms"] == 7 and summary["certain"] == 6
    assert summary["blind_spots"] == 3  # certain spans; the silent gap is shaded, not counted
    assert summary["blind_ms"] == 120_000
    assert summary["blind_open"] == 1
    assert summary["lost"] == 5
    assert summary["missing"] == 10
    rows = build([], alarms)["alarms"]
    assert [r["certainty"] for r in rows] == [CERTAIN] * 6 + [SUSPICIOUS]
    assert rows[0]["span"] == [time_to_ms(alarms[0].time), time_to_ms(alarms[0].time) + 60_000]
    assert alarm_span(alarms[2]) == (time_to_ms(alarms[2].time), None)
    assert alarm_span(alarms[4]) is None


def test_alarms_outside_the_time_range_are_left_out() -> None:
    day = _alarm(kinds.AUDIT_DISABLED, "2026-12-01T10:00:00+00:00", until="2026-12-01T12:00:00.000Z")
    start, end = ms_to_time(time_to_ms(day.time) + 3_600_000), ms_to_time(time_to_ms(day.time) + 7_000_000)
    assert in_range(day, EventFilter(start=start, end=end))  # the span covers the range
    assert not in_range(day, EventFilter(start=ms_to_time(time_to_ms(day.time) + 8_000_000)))
    assert not in_range(day, EventFilter(end=ms_to_time(time_to_ms(day.time) - 1)))


def test_a_cap_keeps_the_first_events_and_says_so() -> None:
    events = list(read_events([DATA / "interleaved_concurrent.log"]))
    data = build(events, max_events=10)
    summary = data["summary"]
    assert summary["included"] == 10 and summary["events"] == len(events)
    assert f"first 10 of {len(events)}" in summary["cut"]
    assert len(column(data, data["columns"]["pid"])) == 10
    assert build(events)["summary"]["cut"] is None


@given(st.lists(st.integers(min_value=-(2**53), max_value=2**53), max_size=50), st.booleans())
def test_columns_decode_to_their_values(values: list[int], delta: bool) -> None:
    assert column({"summary": {"included": len(values)}}, encode_column(values, delta)) == values


HOSTILE = [
    "</script><script>alert(1)</script>",
    "<!--",
    "<img src=x onerror=alert(1)>",
    "\u2028\u2029",
    "&amp;",
]


def test_the_data_cannot_close_its_script_element() -> None:
    data = {"summary": {"included": 0}, "strings": HOSTILE}
    page = render_html(data, "</title><script>alert(1)</script>")
    body = case_json(page)
    assert "<" not in body and ">" not in body and "&" not in body and "\u2028" not in body
    assert json.loads(body) == data
    assert page.count("<script") == 2  # the data and the page's own script, nothing else
    assert "<title>&lt;/title&gt;&lt;script&gt;" in page


def test_the_policy_names_exactly_the_inline_script_and_style() -> None:
    import base64
    import hashlib
    import re

    page = render_html({"summary": {"included": 0}}, "t")
    script = re.findall(r"<script>(.*?)</script>", page, re.S)
    style = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(script) == 1 and len(style) == 1
    policy = content_policy(script[0], style[0])
    assert policy.startswith("default-src 'none'; ")
    digest = base64.b64encode(hashlib.sha256(script[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert "connect-src" not in policy and "http" not in policy  # nothing may be fetched
    assert policy.replace("'", "&#x27;") in page


def test_times_are_milliseconds_since_the_epoch() -> None:
    events = list(read_events([DATA / "workload_enriched.log"]))
    data = build(events)
    times = column(data, data["columns"]["time"])
    assert times == sorted(times)
    assert iso(ms_to_time(times[0])) == iso(in_order(events)[0].time)
    assert data["summary"]["first"] == times[0] and data["summary"]["last"] == times[-1]


def _links(events: list[ExecEvent]) -> dict[bytes, bytes | None]:
    """argv of each event -> argv of the exec the case links it to (None: no parent in the file)."""
    data = build(events)
    names = [e.argv[0] if e.argv else b"" for e in in_order(events)]
    return {name: (names[p] if p >= 0 else None) for name, p in zip(names, data["parent"], strict=True)}


def test_pid_reuse_is_told_apart_by_time() -> None:
    """As ``exectrail tree``: pid 500 is first a child of 100, later (the counter came round) of 200."""
    b = next(read_events([DATA / "workload_enriched.log"]))
    b = replace(b, parent_exec_id=None, exec_id=None)
    links = _links([
        shifted(b, 0, 100, 1, b"first-parent"),
        shifted(b, 1, 500, 100, b"first-500"),
        shifted(b, 2, 501, 500, b"grandchild-of-first"),
        *(shifted(b, 3 + i / 100, pid, 1, b"filler%d" % pid) for i, pid in enumerate(FILLER)),
        shifted(b, 10, 200, 1, b"second-parent"),
        shifted(b, 11, 500, 200, b"second-500"),
        shifted(b, 12, 502, 500, b"child-of-second"),
        shifted(b, 20, 500, 200, b"second-500-execs-again"),  # same parent, no wrap: same process
    ])  # fmt: skip
    assert links[b"first-500"] == b"first-parent"
    assert links[b"grandchild-of-first"] == b"first-500"
    assert links[b"second-500"] == b"second-parent"
    assert links[b"child-of-second"] == b"second-500"
    assert links[b"second-500-execs-again"] == b"second-500"


def test_a_pid_reused_by_the_same_parent_is_a_new_process() -> None:
    b = replace(next(read_events([DATA / "workload_enriched.log"])), parent_exec_id=None, exec_id=None)
    links = _links([
        shifted(b, 0, 200, 1, b"parent"),
        shifted(b, 1, 500, 200, b"first-job"),
        *(shifted(b, 3 + i / 100, pid, 1, b"filler%d" % pid) for i, pid in enumerate(FILLER)),
        shifted(b, 30, 500, 200, b"second-job"),
    ])  # fmt: skip
    assert links[b"first-job"] == b"parent" and links[b"second-job"] == b"parent"


def test_a_parent_behind_a_pid_wrap_is_not_linked() -> None:
    """The ppid last exec'd an hour earlier and the counter came round since: probably another owner."""
    b = replace(next(read_events([DATA / "workload_enriched.log"])), parent_exec_id=None, exec_id=None)
    links = _links([
        shifted(b, 0, 50, 1, b"grandparent"),
        shifted(b, 1, 100, 50, b"old-owner-of-100"),
        *(shifted(b, 5 + i / 100, pid, 1, b"filler%d" % pid) for i, pid in enumerate(range(36, 100))),
        shifted(b, 3600, 700, 100, b"child-of-a-new-100"),
        shifted(b, 3601, 701, 700, b"grandchild"),
    ])  # fmt: skip
    assert links[b"old-owner-of-100"] == b"grandparent"
    assert links[b"child-of-a-new-100"] is None
    assert links[b"grandchild"] == b"child-of-a-new-100"


def test_a_column_of_equal_values_keeps_their_type() -> None:
    assert encode_column([1, 1]) == {"same": 1}
    assert encode_column([1, True]) == [1, True]
    assert encode_column([0, False, 0.0]) == [0, False, 0.0]


def test_an_integer_beyond_64_bits_in_an_alarm_is_written_not_a_crash() -> None:
    alarm = _alarm(kinds.EVENTS_LOST, "2026-12-01T13:00:00+00:00", lost=2**70)
    data = build([], [alarm])
    assert json.loads(case_json(render_html(data, "t")))["alarms"][0]["details"]["lost"] == 2**70
