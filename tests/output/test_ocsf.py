"""The OCSF mapping: every attribute it writes exists in OCSF 1.5.0 with the right type, required
ones are there, enums hold known values with their captions, for hand events, every captured exec
and generated dicts; the written-down facts match the schema export when ``ocsf-json-schema`` is
installed."""

from __future__ import annotations

import importlib
import importlib.resources
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from exectrail.output.ocsf import OCSF_VERSION, alarm_to_ocsf, epoch_ms, event_to_ocsf, finding_uid
from tests.support.ci import skip_or_fail
from tests.support.ocsf_reference import OCSF_VERSION as REFERENCE_VERSION
from tests.support.ocsf_reference import SHAPES
from tests.support.output_samples import (
    ALARM,
    ALARM_ODD,
    ALARMS,
    EVENTS,
    EXE_HASH,
    FAILED,
    HAND_EVENTS,
    HOST,
    NON_UTF8,
    NULLS,
    OTHER_NODE,
    PARENT_ID,
    SUCCESS,
    captured_events,
)

PYTHON_TYPES = {"integer_t": int, "long_t": int, "string_t": str, "boolean_t": bool}
LIMITS = {"integer_t": 2**31, "long_t": 2**63}


def check_object(value: dict[str, Any], shape_name: str, path: str, constraints: bool = True) -> None:
    """Attributes known with their types and enum values; required ones present; with
    ``constraints``, ``at_least_one`` held too (an event with neither pid nor exec id cannot)."""
    shape = SHAPES[shape_name]
    assert type(value) is dict, path
    for name, item in value.items():
        where = f"{path}.{name}"
        assert name in shape.attributes, f"{where} is not an attribute of {shape_name}"
        kind, is_array, object_type = shape.attributes[name]
        items = item if is_array else [item]
        if is_array:
            assert type(item) is list, where
        for one in items:
            assert one is not None, where
            if kind == "object_t":
                if object_type == "object":  # unmapped: anything
                    assert type(one) is dict, where
                else:
                    check_object(one, object_type or "", where, constraints)
            elif kind != "json_t":
                assert type(one) is PYTHON_TYPES[kind], (where, one)
                if kind in LIMITS and isinstance(one, int):
                    assert -LIMITS[kind] <= one < LIMITS[kind], (where, one)
        if name in shape.enums:
            assert item in shape.enums[name], (where, item)
            sibling = shape.siblings.get(name)
            if sibling is not None and sibling in value:
                assert value[sibling] == shape.enums[name][item], (where, value[sibling])
    for name in shape.required:
        assert name in value, f"{path} lacks required {name}"
    if constraints and shape.at_least_one:
        assert any(n in value for n in shape.at_least_one), f"{path} has none of {shape.at_least_one}"


def check(event: dict[str, Any], class_name: str, constraints: bool = True) -> None:
    orjson.dumps(event)
    check_object(event, class_name, class_name, constraints)
    assert event["metadata"]["version"] == OCSF_VERSION == REFERENCE_VERSION


@pytest.mark.parametrize("name", list(HAND_EVENTS))
def test_hand_events_are_valid_process_activity(name: str) -> None:
    check(event_to_ocsf(HAND_EVENTS[name], HOST), "process_activity", constraints=name != "nulls")


def test_success_maps_every_field() -> None:
    out = event_to_ocsf(SUCCESS, HOST)
    assert (out["class_uid"], out["category_uid"], out["activity_id"], out["type_uid"]) == (
        1007,
        1,
        1,
        100701,
    )
    assert (out["status_id"], out["status"], out["status_code"]) == (1, "Success", "0")
    assert out["time"] == 1795617647506 and out["metadata"]["original_time"] == SUCCESS["time"]
    assert out["metadata"]["uid"] == SUCCESS["exec_id"] and out["metadata"]["sequence"] == 8972
    assert out["metadata"]["labels"] == ["procmon", "user_commands"]
    process = out["process"]
    assert (process["pid"], process["uid"], process["name"]) == (10043, SUCCESS["exec_id"], "sudo")
    assert process["cmd_line"] == "sudo -u 'it'\"'\"'s me'" and process["working_directory"] == "/home/andrew"
    assert process["file"] == {
        "name": "sudo", "path": "/usr/bin/sudo", "type_id": 1, "type": "Regular File",
        "hashes": [{"algorithm_id": 3, "algorithm": "SHA-256", "value": EXE_HASH["sha256"]}],
        "modified_time": 1767323045000,
    }  # fmt: skip
    assert process["user"] == {"uid": "1001", "name": "andrew"} and process["group"] == {
        "uid": "1002",
        "name": "andrew",
    }
    assert (process["auid"], process["euid"], process["egid"]) == (1001, 0, 0)
    assert process["session"] == {"uid": "11", "terminal": "pts0"}
    assert process["environment_variables"] == [
        {"name": "PATH", "value": "/usr/bin:/bin"}, {"name": "LD_PRELOAD", "value": "/tmp/x.so"},
    ]  # fmt: skip
    assert process["container"] == {"uid": "abc123def456", "runtime": "docker"}
    parent = {
        "pid": 10027, "uid": PARENT_ID, "name": "bash", "cmd_line": "-bash", "created_time": 1795615200000,
        "file": {"name": "bash", "path": "/usr/bin/bash", "type_id": 1, "type": "Regular File"},
    }  # fmt: skip
    assert process["parent_process"] == parent and out["actor"]["process"] == parent
    assert out["actor"]["user"] == {"uid": "1001", "name": "andrew"}
    assert out["device"] == {
        "hostname": "box", "uid": HOST.host_id, "type_id": 0, "type": "Unknown",
        "os": {"name": "Linux", "type_id": 200, "type": "Linux"},
    }  # fmt: skip
    unmapped = out["unmapped"]
    assert unmapped["fsuid"] == 0 and unmapped["syscall"] == "execve" and unmapped["parent_source"] == "trail"
    assert unmapped["exe_hash"] == {"dev": "fd:01", "inode": 1593, "ctime": EXE_HASH["ctime"],
                                    "hashed_at": EXE_HASH["hashed_at"]}  # fmt: skip


def test_failed_exec_is_a_failed_launch_with_the_errno() -> None:
    out = event_to_ocsf(FAILED, HOST)
    assert (out["status_id"], out["status"], out["status_code"], out["status_detail"]) == (
        2, "Failure", "-2", "ENOENT",
    )  # fmt: skip
    assert "cmd_line" not in out["process"] and "hashes" not in out["process"]["file"]
    assert out["unmapped"]["path"] == "/tmp/.hidden/gcc" and out["unmapped"]["fileless"] == ["scratch-dir"]


def test_non_utf8_and_parent_from_proc() -> None:
    out = event_to_ocsf(NON_UTF8, HOST)
    assert out["unmapped"]["hex"] == {"argv": NON_UTF8["argv_hex"], "cwd": NON_UTF8["cwd_hex"]}
    assert out["process"]["parent_process"] == {
        "pid": 10027, "name": "d\ufffdsh", "created_time": 1795615199999,
        "file": {"name": "d\ufffdsh", "path": "/usr/bin/d\ufffdsh", "type_id": 1, "type": "Regular File"},
    }  # fmt: skip


def test_nulls_keep_the_required_attributes() -> None:
    out = event_to_ocsf(NULLS, HOST)
    assert out["process"] == {"name": ""} and out["actor"] == {} and out["status_id"] == 0
    assert out["unmapped"] == {"serial": 1, "incomplete": True, "fileless": []}


def test_another_node() -> None:
    device = event_to_ocsf(OTHER_NODE, HOST)["device"]
    assert device["hostname"] == "web-7" and "uid" not in device


def test_epoch_ms() -> None:
    assert epoch_ms("1970-01-01T00:00:01.002Z") == 1002
    assert epoch_ms("2026-11-25T14:40:47.506+00:00") == 1795617647506
    assert epoch_ms("2026-11-25T14:40:47") == 1795617647000
    assert [epoch_ms(v) for v in ("", "2026-13-25T14:40:47.506Z", None, 5, "now")] == [None] * 5


def test_every_captured_exec_maps() -> None:
    failed = 0
    for event in captured_events():
        out = event_to_ocsf(event, HOST)
        check(out, "process_activity")
        failed += out["status_id"] == 2
        assert out["unmapped"]["serial"] == event["serial"]
    assert failed >= 18


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS)
def test_any_event_dict_maps_to_valid_ocsf(event: dict[str, Any]) -> None:
    out = event_to_ocsf(event, HOST)
    check_object({"time": 0, **out}, "process_activity", "", constraints=False)
    orjson.dumps(out)


def test_alarm_is_a_detection_finding() -> None:
    out = alarm_to_ocsf(ALARM, HOST)
    check(out, "detection_finding")
    assert (out["class_uid"], out["type_uid"], out["severity_id"], out["confidence_id"]) == (
        2004,
        200401,
        4,
        3,
    )
    info = out["finding_info"]
    assert info["title"] == ALARM["summary"] and info["types"] == ["rules-removed"]
    assert info["analytic"] == {"name": "rules-removed", "uid": "rules-removed", "type_id": 1, "type": "Rule"}
    assert info["uid"] == finding_uid(ALARM) == out["metadata"]["uid"] and len(info["uid"]) == 32
    assert finding_uid({**ALARM, "time": "2026-11-25T14:41:00.124Z"}) != info["uid"]
    assert out["evidences"] == [{"data": {"details": ALARM["details"], "evidence": ALARM["evidence"]}}]


def test_odd_alarm() -> None:
    out = alarm_to_ocsf(ALARM_ODD, HOST)
    check_object({"time": 0, **out}, "detection_finding", "")
    assert "time" not in out and out["severity_id"] == 3 and "evidences" not in out
    assert out["unmapped"] == {"certainty": "suspicious", "host_hex": "7765622dff"}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(ALARMS)
def test_any_alarm_dict_maps_to_valid_ocsf(alarm: dict[str, Any]) -> None:
    out = alarm_to_ocsf(alarm, HOST)
    check_object({"time": 0, **out}, "detection_finding", "", constraints=False)
    orjson.dumps(out)


def _export() -> dict[str, Any]:
    """The OCSF 1.5.0 schema export that ``ocsf-json-schema`` ships (a test dependency: skipped
    without it on a developer's machine, failed in CI)."""
    try:
        importlib.import_module("ocsf_json_schema")
    except ImportError:
        skip_or_fail("ocsf-json-schema (test dependency in pyproject.toml) not installed")
    path = importlib.resources.files("ocsf_json_schema") / "ocsf" / f"{REFERENCE_VERSION}.json"
    return dict(json.loads(path.read_text()))


def test_reference_facts_match_the_published_schema() -> None:
    schema = _export()
    primitives = {"integer_t", "long_t", "string_t", "boolean_t", "json_t", "object_t"}

    def base(kind: str) -> str:
        while kind not in primitives:
            kind = schema["types"][kind]["type"]
        return kind

    for name, shape in SHAPES.items():
        source = schema["classes"].get(name) or schema["objects"][name]
        attributes = source["attributes"]
        for attr, (kind, is_array, object_type) in shape.attributes.items():
            got = attributes[attr]
            assert (base(got["type"]), bool(got.get("is_array")), got.get("object_type")) == (
                kind, is_array, object_type,
            ), (name, attr)  # fmt: skip
        required = sorted(
            a for a, d in attributes.items() if d.get("requirement") == "required" and not d.get("profile")
        )
        assert tuple(required) == shape.required, name
        assert tuple((source.get("constraints") or {}).get("at_least_one") or ()) == shape.at_least_one
        for attr, values in shape.enums.items():
            assert {int(k): v["caption"] for k, v in attributes[attr]["enum"].items()} == values, (name, attr)
    assert schema["classes"]["process_activity"]["uid"] == 1007
    assert schema["classes"]["detection_finding"]["uid"] == 2004
