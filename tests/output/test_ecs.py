"""The ECS mapping: every field it writes is an ECS 8.11 field (or auditbeat's, or a documented
``exectrail.*`` one) with the right type, for hand events, every captured exec and generated dicts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from exectrail.output.ecs import ECS_VERSION, HostInfo, alarm_to_ecs, event_to_ecs
from tests.support import ecs_reference as ref
from tests.support.output_samples import (
    ALARM,
    ALARM_ODD,
    ALARMS,
    EVENTS,
    EXE_HASH,
    FAILED,
    HAND_ALARMS,
    HAND_EVENTS,
    HOST,
    NON_UTF8,
    NULLS,
    OTHER_NODE,
    PARENT_ID,
    SUCCESS,
    captured_events,
)
from tests.support.paths import DOCS as DOCS_DIR

#: Fields whose value is a free-form object (kept whole, not walked).
OPAQUE = {"exectrail.details"}
DOCS = (DOCS_DIR / "formats.md").read_text()
#: ``exectrail.*`` fields as docs/formats.md lists them: | `exectrail.x` | type | … |
DOCUMENTED = dict(re.findall(r"^\| `(exectrail\.[a-z_.]+)` \| (\w+(?: array)?) \|", DOCS, re.MULTILINE))


def leaves(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        path = prefix + key
        if isinstance(value, dict) and path not in OPAQUE:
            assert value, f"{path} is an empty object"
            out += leaves(value, path + ".")
        else:
            out.append((path, value))
    return out


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("keyword", "wildcard", "match_only_text"):
        return type(value) is str
    if kind == "long":
        return type(value) is int and -(2**63) <= value < 2**63
    if kind == "boolean":
        return type(value) is bool
    if kind == "date":
        return type(value) is str and _is_date(value)
    if kind == "object":
        return type(value) is dict
    raise AssertionError(f"unknown type {kind}")


def _is_date(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def field_type(path: str) -> tuple[str, bool]:
    if path in ref.ECS_FIELDS:
        return ref.ECS_FIELDS[path]
    if path in ref.AUDITBEAT_FIELDS:
        return ref.AUDITBEAT_FIELDS[path]
    documented = DOCUMENTED.get(path)
    assert documented is not None, f"{path} is neither ECS, auditbeat's nor documented in docs/formats.md"
    kind, _, array = documented.partition(" ")
    return kind, bool(array)


def check(doc: dict[str, Any]) -> None:
    """Every field known with its type, categorization values allowed; serializable by orjson."""
    orjson.dumps(doc)
    for path, value in leaves(doc):
        assert value is not None, path
        kind, array = field_type(path)
        if array:
            assert type(value) is list, path
            assert all(_is_type(v, kind) for v in value), (path, value)
        elif kind != "date" or type(value) is str:
            assert _is_type(value, kind), (path, value)
    event = doc["event"]
    assert event["kind"] in ref.EVENT_KIND
    assert event.get("outcome", "unknown") in ref.EVENT_OUTCOME
    for category in event["category"]:
        assert set(event["type"]) <= ref.EXPECTED_TYPES[category]
    assert doc.get("auditd", {}).get("result", "fail") in ref.AUDITD_RESULT
    assert doc["ecs"]["version"] == ref.ECS_VERSION == ECS_VERSION


@pytest.mark.parametrize("name", list(HAND_EVENTS))
def test_hand_events_are_valid_ecs(name: str) -> None:
    check(event_to_ecs(HAND_EVENTS[name], HOST))


def test_success_maps_every_field() -> None:
    doc = event_to_ecs(SUCCESS, HOST)
    assert doc["@timestamp"] == "2026-11-25T14:40:47.506Z"
    assert doc["event"] == {
        "kind": "event", "category": ["process"], "type": ["start"], "action": "executed",
        "outcome": "success", "id": SUCCESS["exec_id"], "sequence": 8972, "module": "exectrail",
        "dataset": "exectrail.exec",
    }  # fmt: skip
    process = doc["process"]
    assert (process["pid"], process["executable"], process["name"]) == (10043, "/usr/bin/sudo", "sudo")
    assert process["args"] == ["sudo", "-u", "it's me"] and process["args_count"] == 3
    assert process["command_line"] == "sudo -u 'it'\"'\"'s me'"
    assert process["working_directory"] == "/home/andrew" and process["title"] == "sudo -u it's me"
    assert process["entity_id"] == SUCCESS["exec_id"]
    assert process["hash"] == {"sha256": EXE_HASH["sha256"]}
    assert process["env_vars"] == ["PATH=/usr/bin:/bin", "LD_PRELOAD=/tmp/x.so"]
    assert process["user"] == {"id": "0", "name": "root"}
    assert process["real_user"] == {"id": "1001", "name": "andrew"}
    assert process["real_group"] == {"id": "1002", "name": "andrew"}
    assert process["parent"] == {
        "pid": 10027, "entity_id": PARENT_ID, "executable": "/usr/bin/bash", "name": "bash",
        "args": ["-bash"], "args_count": 1, "command_line": "-bash", "start": "2026-11-25T14:00:00.000Z",
    }  # fmt: skip
    assert doc["user"] == {
        "id": "1001", "name": "andrew", "group": {"id": "1002", "name": "andrew"},
        "effective": {"id": "0", "name": "root", "group": {"id": "0"}},
        "audit": {"id": "1001", "name": "andrew"}, "saved": {"id": "0", "group": {"id": "0"}},
        "filesystem": {"id": "0", "group": {"id": "0"}},
    }  # fmt: skip
    assert doc["host"] == {"name": "box", "id": HOST.host_id, "os": {"type": "linux"}}
    assert doc["container"] == {"id": "abc123def456", "runtime": "docker"}
    assert doc["file"] == {"path": "/usr/bin/sudo", "name": "sudo"}
    assert doc["tags"] == ["procmon", "user_commands"]
    assert doc["auditd"] == {
        "sequence": 8972, "session": "11", "result": "success",
        "data": {"syscall": "execve", "arch": "x86_64", "exit": "0", "tty": "pts0", "argc": "3"},
    }  # fmt: skip
    assert doc["exectrail"] == {
        "incomplete": False, "fileless": [], "path": "/usr/bin/sudo",
        "cgroup": "/system.slice/docker-abc.scope", "cgroup_source": "proc",
        "systemd_unit": "docker-abc.scope",
        "names_source": "nss", "parent_source": "trail",
        "exe_hash": {k: v for k, v in EXE_HASH.items() if k != "sha256"},
    }  # fmt: skip


def test_failed_exec_is_a_failed_start_of_the_asked_file() -> None:
    doc = event_to_ecs(FAILED, HOST)
    assert (doc["event"]["outcome"], doc["event"]["type"], doc["auditd"]["result"]) == (
        "failure",
        ["start"],
        "fail",
    )
    assert doc["auditd"]["data"]["exit"] == "-2"
    assert "args" not in doc["process"] and "hash" not in doc["process"] and "env_vars" not in doc["process"]
    assert doc["process"]["executable"] == "/usr/bin/bash"  # the caller's: it went on running
    assert doc["file"] == {"path": "/tmp/.hidden/gcc", "name": "gcc"}
    assert doc["exectrail"]["exe_hash_missing"] == "failed" and doc["exectrail"]["env_missing"] == "failed"
    assert doc["exectrail"]["fileless"] == ["scratch-dir"]


def test_non_utf8_keeps_the_raw_bytes_and_a_parent_from_proc() -> None:
    doc = event_to_ecs(NON_UTF8, HOST)
    assert doc["process"]["args"] == ["printf", "\ufffd\ufffd"]
    assert doc["exectrail"]["hex"] == {"argv": NON_UTF8["argv_hex"], "cwd": NON_UTF8["cwd_hex"]}
    assert doc["process"]["parent"] == {
        "pid": 10027, "executable": "/usr/bin/d\ufffdsh", "name": "d\ufffdsh",
        "start": "2026-11-25T13:59:59.999Z",
    }  # fmt: skip
    assert doc["exectrail"]["parent_source"] == "proc" and doc["exectrail"]["exe_hash_missing"] == "gone"


def test_nulls_leave_only_what_is_known() -> None:
    assert event_to_ecs(NULLS, HOST) == {
        "@timestamp": NULLS["time"], "ecs": {"version": ECS_VERSION},
        "event": {"kind": "event", "category": ["process"], "type": ["start"], "action": "executed",
                  "outcome": "unknown", "sequence": 1, "module": "exectrail", "dataset": "exectrail.exec"},
        "process": {"executable": "", "name": ""},
        "host": {"name": "box", "id": HOST.host_id, "os": {"type": "linux"}},
        "auditd": {"sequence": 1}, "exectrail": {"incomplete": True, "fileless": []},
    }  # fmt: skip


def test_another_node_is_named_without_this_hosts_id() -> None:
    assert event_to_ecs(OTHER_NODE, HOST)["host"] == {"name": "web-7", "os": {"type": "linux"}}
    same = {**SUCCESS, "node": "box"}
    assert event_to_ecs(same, HOST)["host"]["id"] == HOST.host_id
    assert event_to_ecs(SUCCESS, HostInfo())["host"] == {"os": {"type": "linux"}}


def test_every_captured_exec_maps() -> None:
    events = captured_events()
    assert len(events) > 400
    outcomes = {"success": 0, "failure": 0}
    for event in events:
        doc = event_to_ecs(event, HOST)
        check(doc)
        outcomes[doc["event"]["outcome"]] += 1
        assert doc["process"].get("args") == event["argv"] or event["argv"] is None
        assert doc["event"]["sequence"] == event["serial"]
    assert outcomes["failure"] >= 18 and outcomes["success"] > 300


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS)
def test_any_event_dict_maps_to_valid_ecs(event: dict[str, Any]) -> None:
    check(event_to_ecs(event, HOST))


def test_alarm() -> None:
    doc = alarm_to_ecs(ALARM, HOST)
    check(doc)
    assert doc["event"]["kind"] == "alert" and doc["event"]["action"] == "rules-removed"
    assert doc["event"]["severity"] == 73
    assert doc["message"] == ALARM["summary"]
    assert doc["rule"]["name"] == "rules-removed" and doc["rule"]["description"].startswith(
        "audit rules deleted"
    )
    assert (
        doc["exectrail"]["details"] == ALARM["details"] and doc["exectrail"]["evidence"] == ALARM["evidence"]
    )
    assert doc["exectrail"]["certainty"] == "certain"


def test_odd_alarm() -> None:
    doc = alarm_to_ecs(ALARM_ODD, HOST)
    check(doc)
    assert doc["host"]["name"] == "web-\ufffd" and doc["exectrail"]["hex"] == {"host": "7765622dff"}
    assert doc["rule"] == {"name": "not-a-kind", "ruleset": "exectrail"} and doc["message"] == ""


@pytest.mark.parametrize("name", list(HAND_ALARMS))
def test_hand_alarms_are_valid_ecs(name: str) -> None:
    check(alarm_to_ecs(HAND_ALARMS[name], HOST))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(ALARMS)
def test_any_alarm_dict_maps_to_valid_ecs(alarm: dict[str, Any]) -> None:
    check(alarm_to_ecs(alarm, HOST))


def test_docs_list_every_field_written() -> None:
    written: set[str] = set()
    for event in [*HAND_EVENTS.values(), *captured_events()]:
        written |= {p for p, _ in leaves(event_to_ecs(event, HOST))}
    for alarm in HAND_ALARMS.values():
        written |= {p for p, _ in leaves(alarm_to_ecs(alarm, HOST))}
    missing = sorted(p for p in written if f"`{p}`" not in DOCS)
    assert missing == []
