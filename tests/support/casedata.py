"""Reading a case report back: the JSON data in the HTML file, and the exec events it holds, rebuilt
from the columns, the string table and the hex of text that is not UTF-8 (independently of the
module that wrote them), so that tests can compare them with the events the logs give."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from exectrail.jsonform import details_to_json
from exectrail.model import ExecEvent
from exectrail.schema import ARGV, LIST, OBJECT, TEXT, TIME
from exectrail.timefmt import iso, ms_to_time

_DATA = re.compile(r'<script id="exectrail-case" type="application/json">(.*?)</script>', re.S)


def case_json(html: str) -> str:
    """The text of the page's data element."""
    found = _DATA.findall(html)
    assert len(found) == 1, "one data element"
    text: str = found[0]
    return text


def read_case(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(case_json(path.read_text(encoding="utf-8")))
    return data


def column(data: dict[str, Any], value: Any) -> list[Any]:
    """A column's N values: a list, ``{"same": v}`` or ``{"delta": [...]}``."""
    n = data["summary"]["included"]
    if isinstance(value, dict) and "same" in value:
        return [value["same"]] * n
    if isinstance(value, dict):
        out, total = [], 0
        for d in value["delta"]:
            total += d
            out.append(total)
        return out
    assert isinstance(value, list) and len(value) == n
    return value


def raw(data: dict[str, Any], index: int) -> bytes:
    """The exact bytes of string ``index``."""
    hex_text = data["hex"].get(str(index))
    if hex_text is not None:
        return bytes.fromhex(hex_text)
    text: str = data["strings"][index]
    return text.encode("utf-8")


def decoded_events(data: dict[str, Any]) -> list[ExecEvent]:
    """Every event of the case, as the model holds it."""
    n = data["summary"]["included"]
    values: list[dict[str, Any]] = [{} for _ in range(n)]
    kinds = {f["name"]: f["kind"] for f in data["fields"]}
    for name, kind in kinds.items():
        for i, v in enumerate(column(data, data["columns"][name])):
            values[i][name] = _value(data, kind, v)
    events = []
    for i in range(n):
        parent = values[i]["parent"]
        if isinstance(parent, dict) and set(parent) == {"event"}:
            values[i]["parent"] = _trail_parent(values[parent["event"]])
        events.append(ExecEvent(**values[i]))
    return events


def _value(data: dict[str, Any], kind: str, v: Any) -> Any:
    if v is None:
        return None
    if kind == TIME:
        return ms_to_time(v)
    if kind == TEXT:
        return raw(data, v).decode("utf-8", "surrogateescape")
    if kind == ARGV:
        return tuple(raw(data, i) for i in data["lists"][v])
    if kind == LIST:
        return tuple(data["strings"][i] for i in data["lists"][v])
    if kind == OBJECT:
        if isinstance(v, dict):
            return v  # {"event": i}: rebuilt once every event is read
        return json.loads(data["strings"][v])
    if kind == "name":
        return data["strings"][v]
    return v


def _trail_parent(e: dict[str, Any]) -> dict[str, Any]:
    """The ``parent`` object of a child of the exec ``e``, as the enricher writes it."""
    argv = None if e["argv"] is None else [a.decode("utf-8", "surrogateescape") for a in e["argv"]]
    return details_to_json(
        {"exec_id": e["exec_id"], "pid": e["pid"], "exe": e["exe"], "argv": argv, "time": iso(e["time"]),
         "source": "trail"}
    )  # fmt: skip
