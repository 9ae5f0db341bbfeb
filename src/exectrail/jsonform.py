"""Exec events and alarms ↔ their JSON objects (the schema of :mod:`exectrail.schema`), losslessly.

Text that is not UTF-8 (kept in a ``str`` by ``surrogateescape``) shows U+FFFD and gets a
``NAME_hex`` companion with its raw bytes, so every byte survives the round trip
(:func:`event_to_dict` ↔ :func:`event_values`, :func:`alarm_to_dict` ↔ :func:`alarm_values`; the model's
``from_dict`` builds the object from those values).

:func:`event_to_dict` runs once per event printed (hundreds of thousands a second): its body is
generated once, at import, from :data:`~exectrail.schema.EVENT_FIELDS` (one dict display, no loop
over the fields); :data:`EVENT_TO_DICT_SOURCE` shows the code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

import orjson

from exectrail.schema import ARGV, CONST, EVENT_FIELDS, HEX_TEXT_FIELDS, LIST, OBJECT, TEXT, TIME
from exectrail.timefmt import EPOCH, from_iso, iso

#: An :class:`exectrail.model.ExecEvent` / ``Alarm``. The model imports this module (``to_dict``,
#: ``from_dict``), so this one works on the attributes the schema names and never imports the model.
Event: TypeAlias = Any
AlarmLike: TypeAlias = Any

#: The value of the ``type`` key of an exec event's JSON object.
EVENT_TYPE = "exec"


def clean_text(text: str | None) -> str | None:
    """A str safe for JSON/terminals: bytes kept by ``surrogateescape`` become U+FFFD."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def raw_hex(text: str) -> str | None:
    """The bytes of ``text`` as hex when it is not valid UTF-8 (``surrogateescape`` kept some), else None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").hex()
    return None


def from_hex(hex_text: str) -> str:
    """Inverse of :func:`raw_hex` (ValueError when ``hex_text`` is not hex)."""
    return bytes.fromhex(hex_text).decode("utf-8", "surrogateescape")


def decode_argv(argv: tuple[bytes, ...]) -> tuple[list[str], list[str] | None]:
    """argv as str (bad bytes → U+FFFD) and, only if some argument is not UTF-8, every arg as hex."""
    try:
        return [arg.decode("utf-8") for arg in argv], None  # the usual case, in one go
    except UnicodeDecodeError:
        pass
    out = []
    lossy = False
    for arg in argv:
        try:
            out.append(arg.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(arg.decode("utf-8", "replace"))
            lossy = True
    return out, ([arg.hex() for arg in argv] if lossy else None)


_SECONDS: dict[int, str] = {}  # seconds since the epoch -> "2026-11-25T14:40:47"
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def format_time(event: Event) -> str:
    """The event's time as :func:`~exectrail.timefmt.iso` writes it (``2026-11-25T14:40:47.506Z``),
    the text of its second kept in a cache (this runs once per event printed)."""
    time: datetime = event.time
    if time.tzinfo is not UTC:
        return iso(time)
    since = time - EPOCH  # isoformat costs a microsecond; the second's text is looked up instead
    second = since.days * 86400 + since.seconds
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = time.isoformat(timespec="seconds")[:19]
    return text + _MILLISECONDS[time.microsecond // 1000]


_ALL_UTF8_SOURCE = (  # a tuple display of the attributes: cheaper than an attrgetter
    "def _all_utf8(event):\n"
    f"    for text in ({''.join(f'event.{name}, ' for name in HEX_TEXT_FIELDS)}):\n"
    "        if text is not None and not text.isascii() and raw_hex(text) is not None:\n"
    "            return False\n"
    "    return True\n"
)
_namespace: dict[str, Any] = {"raw_hex": raw_hex}
exec(compile(_ALL_UTF8_SOURCE, f"<{__name__}: _all_utf8>", "exec"), _namespace)
#: True when every text field of the event is UTF-8 (no ``*_hex`` companion needed).
_all_utf8: Callable[[Event], bool] = _namespace["_all_utf8"]


def _without_text(event: Event) -> Event:
    no_text: dict[str, Any] = dict.fromkeys(HEX_TEXT_FIELDS)
    return dataclasses.replace(event, **no_text)


def _with_hex(event: Event) -> dict[str, Any]:
    """:func:`event_to_dict` for an event with a text field that is not UTF-8: U+FFFD in the field,
    the raw bytes as hex in ``NAME_hex`` right after it."""
    out: dict[str, Any] = {}
    for name, value in event_to_dict(_without_text(event)).items():
        text = getattr(event, name) if name in HEX_TEXT_FIELDS else None
        if text is None:
            out[name] = value
        else:
            _put_text(out, name, text)
    return out


def _event_to_dict_source() -> str:
    """``event_to_dict`` for events whose text is all UTF-8, written out from the schema."""
    pre: list[str] = []
    items: list[str] = []  # the dict display, up to and including the argv field
    after: list[str] = []  # fields after it, set one by one so that argv_hex comes right after argv
    split = False
    for f in EVENT_FIELDS:
        value = f"event.{f.name}"
        if f.kind == CONST:
            value = repr(EVENT_TYPE)
        elif f.kind == TIME:
            value = "format_time(event)"
        elif f.kind == LIST:
            value = f"[*event.{f.name}]"
        elif f.kind == ARGV:
            value = f"{f.name}_text"
            pre += [
                f"{f.name}_text = {f.name}_hex = None",
                f"if event.{f.name} is not None:",
                f"    {f.name}_text, {f.name}_hex = decode_argv(event.{f.name})",
            ]
        if split:
            after.append(f"out[{f.name!r}] = {value}")
        else:
            items.append(f"{f.name!r}: {value}")
        if f.kind == ARGV:
            after += [f"if {f.name}_hex is not None:", f"    out[{f.companion!r}] = {f.name}_hex"]
            split = True
    body = [
        "if not _all_utf8(event):",
        "    return _with_hex(event)",
        *pre,
        "out = {\n        " + ",\n        ".join(items) + ",\n    }",
        *after,
        "return out",
    ]
    return "def event_to_dict(event):\n" + "".join(f"    {line}\n" for line in body)


EVENT_TO_DICT_SOURCE = _event_to_dict_source()


def _compile_event_to_dict() -> Callable[[Event], dict[str, Any]]:
    namespace: dict[str, Any] = {
        "_all_utf8": _all_utf8,
        "_with_hex": _with_hex,
        "format_time": format_time,
        "decode_argv": decode_argv,
    }
    exec(compile(EVENT_TO_DICT_SOURCE, f"<{__name__}: event_to_dict>", "exec"), namespace)
    function: Callable[[Event], dict[str, Any]] = namespace["event_to_dict"]
    function.__doc__ = (
        "The documented JSON object of one exec event (``argv_hex``, ``exe_hex``… only when needed)."
    )
    function.__module__ = __name__
    return function


event_to_dict = _compile_event_to_dict()


_PLAIN_FIELDS = tuple(
    f for f in EVENT_FIELDS if f.python is not None and f.kind not in (TIME, ARGV, LIST, OBJECT)
)


def event_values(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of the :class:`ExecEvent` of its JSON object, byte-exact (``*_hex`` companions are
    read back): ``ExecEvent(**event_values(body))`` is ``ExecEvent.from_dict(body)``.

    KeyError, TypeError or ValueError when ``body`` is not such an object."""
    values: dict[str, Any] = {}
    for f in EVENT_FIELDS:
        if f.kind == ARGV:
            argv: tuple[bytes, ...] | None = None
            if body.get(f.name) is not None:
                hexes = body.get(f"{f.name}_hex")
                argv = (
                    tuple(bytes.fromhex(h) for h in hexes)
                    if hexes
                    else tuple(a.encode() for a in body[f.name])
                )
            values[f.name] = argv
    for f in _PLAIN_FIELDS:
        hex_text = body.get(f"{f.name}_hex") if f.kind == TEXT else None
        values[f.name] = from_hex(hex_text) if isinstance(hex_text, str) else body.get(f.name)
    for f in EVENT_FIELDS:
        if f.kind == LIST:  # absent in events spooled before it existed: none
            values[f.name] = _names(body.get(f.name) or ())
        elif f.kind == OBJECT:
            values[f.name] = _object(body.get(f.name))
    values["incomplete"] = bool(body.get("incomplete"))  # absent in events spooled before it existed
    values["time"] = from_iso(str(body["time"]))
    return values


def object_text(value: dict[str, Any]) -> str:
    """An OBJECT field (``parent``, ``exe_hash``, ``env``) as text: its JSON with sorted keys, so the
    same value always gives the same text (the store's column and digest, ClickHouse, CSV)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _object(value: object) -> dict[str, Any] | None:
    """An OBJECT field's value (already in its JSON form); ValueError for what is not an object."""
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"not an object: {type(value).__name__}")
    return value


def _names(value: object) -> tuple[str, ...]:
    """A LIST field's names; ValueError for what exectrail never writes there (the store keeps
    them comma-joined, so a name may hold no comma)."""
    if not isinstance(value, list | tuple) or not all(type(n) is str and n and "," not in n for n in value):
        raise ValueError(f"not a list of names: {value!r}")
    return tuple(value)


def alarm_to_dict(alarm: AlarmLike) -> dict[str, Any]:
    """The JSON object of one alarm: ``{"type": "alarm", "kind": …, "time": …, …}``.

    Text that is not UTF-8 (an actor's exe, a log line) shows U+FFFD and gets a ``NAME_hex``
    companion with the raw bytes: ``host_hex``, ``summary_hex``, ``evidence_hex`` (every line, as
    ``argv_hex``) and, inside ``details`` at any depth, ``KEY_hex`` beside a string ``KEY``."""
    out: dict[str, Any] = {
        "type": "alarm",
        "kind": alarm.kind,
        "time": iso(alarm.time),
        "certainty": alarm.certainty,
    }
    _put_text(out, "host", alarm.host)
    _put_text(out, "summary", alarm.summary)
    out["details"] = details_to_json(alarm.details)
    out["evidence"] = [clean_text(line) for line in alarm.evidence]
    if any(raw_hex(line) is not None for line in alarm.evidence):
        out["evidence_hex"] = [line.encode("utf-8", "surrogateescape").hex() for line in alarm.evidence]
    return out


def _put_text(out: dict[str, Any], name: str, text: object) -> None:
    if not isinstance(text, str):
        out[name] = text
        return
    out[name] = clean_text(text)
    hex_text = raw_hex(text)
    if hex_text is not None:
        out[f"{name}_hex"] = hex_text


def details_to_json(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` safe for JSON: a value holding text that is not UTF-8 (a string, or one inside a
    list, at any depth) gets a ``KEY_hex`` companion: the hex of the string, or for a list a list
    of the elements' companions (null where none). Dicts carry their own companions."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        out[key], companion = _to_json(value)
        if companion is not None:
            out[f"{key}_hex"] = companion
    return out


def _to_json(value: Any) -> tuple[Any, Any]:
    """(the JSON-safe value, its hex companion or None)."""
    if isinstance(value, str):
        hex_text = raw_hex(value)
        return (value, None) if hex_text is None else (clean_text(value), hex_text)
    if isinstance(value, dict):
        return details_to_json(value), None
    if isinstance(value, list | tuple):
        pairs = [_to_json(v) for v in value]
        companions = [c for _, c in pairs]
        return [v for v, _ in pairs], (companions if any(c is not None for c in companions) else None)
    return value, None


def details_from_json(details: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`details_to_json` (ValueError on a bad hex companion)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if key.endswith("_hex") and key[:-4] in details:
            continue
        out[key] = _from_json(value, details.get(f"{key}_hex"))
    return out


def _from_json(value: Any, companion: Any) -> Any:
    if isinstance(value, dict):
        return details_from_json(value)
    if isinstance(companion, str) and isinstance(value, str):
        return from_hex(companion)
    if isinstance(value, list):
        if isinstance(companion, list) and len(companion) == len(value):
            return [_from_json(v, c) for v, c in zip(value, companion, strict=True)]
        return [_from_json(v, None) for v in value]
    return value


def alarm_values(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of the :class:`Alarm` of its JSON object (:func:`alarm_to_dict`), byte-exact.

    KeyError, TypeError or ValueError when ``body`` is not such an object."""
    details = body.get("details") or {}
    evidence = body.get("evidence") or []
    if not isinstance(details, dict) or not isinstance(evidence, list):
        raise ValueError("alarm details must be an object and evidence a list")
    evidence_hex = body.get("evidence_hex")
    if isinstance(evidence_hex, list) and len(evidence_hex) == len(evidence):
        evidence = [from_hex(str(h)) for h in evidence_hex]
    host, summary = body.get("host"), str(body.get("summary", ""))
    if isinstance(body.get("host_hex"), str):
        host = from_hex(body["host_hex"])
    if isinstance(body.get("summary_hex"), str):
        summary = from_hex(body["summary_hex"])
    return dict(
        kind=str(body["kind"]),
        time=from_iso(str(body["time"])),
        summary=summary,
        certainty=str(body.get("certainty", "certain")),
        host=host,
        details=details_from_json(details),
        evidence=tuple(str(line) for line in evidence),
    )


__all__ = [
    "EVENT_TYPE",
    "alarm_to_dict",
    "alarm_values",
    "clean_text",
    "decode_argv",
    "details_from_json",
    "details_to_json",
    "event_to_dict",
    "event_values",
    "format_time",
    "from_hex",
    "object_text",
    "raw_hex",
]
