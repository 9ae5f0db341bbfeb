"""Exec events ↔ rows of the ``events`` table, losslessly.

Text fields (``str`` that may hold ``surrogateescape`` bytes) are stored as TEXT when they are valid
UTF-8 and as a BLOB of the raw bytes otherwise, so any byte survives. ``argv`` is a BLOB: every
argument followed by a NUL (the kernel never passes a NUL inside an argument). An argv that does hold
a NUL somewhere falls back to a length-prefixed form that ends in 0x01, so any tuple of bytes
round-trips. The empty tuple is the empty BLOB; no argv at all (failed execs) is NULL. A list of
names (``fileless``) is TEXT, the names comma-joined (``''`` for none).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Any

import orjson

from exectrail.jsonform import object_text
from exectrail.model import ExecEvent
from exectrail.schema import (
    ARGV,
    ATTRIBUTES,
    BOOL,
    INT,
    LIST,
    NAME,
    OBJECT,
    STORE_COLUMNS,
    STORED,
    TEXT,
    TIME,
)
from exectrail.timefmt import ms_to_time, time_to_ms

#: Stored columns of one event, in table order (``seq``, ``digest`` and ``chain`` come on top).
COLUMNS = STORE_COLUMNS

Row = tuple[Any, ...]
_SUCCESS = {True: 1, False: 0, None: None}
_BOOL = {0: False, None: None}  # anything else is True, as bool() says
_LEN = struct.Struct(">I")
_LENGTH_PREFIXED = b"\x01"


def store_text(value: str | None) -> str | bytes | None:
    """TEXT for valid UTF-8, the raw bytes (BLOB) when ``surrogateescape`` kept undecodable bytes."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    return value


def load_text(value: str | bytes | None) -> str | None:
    """Inverse of :func:`store_text`."""
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "surrogateescape")


def pack_argv(argv: tuple[bytes, ...] | None) -> bytes | None:
    """argv as one BLOB (see the module docstring)."""
    if argv is None:
        return None
    if not argv:
        return b""
    blob = b"\0".join(argv) + b"\0"
    if blob.count(b"\0") == len(argv):
        return blob
    return b"".join(_LEN.pack(len(arg)) + arg for arg in argv) + _LENGTH_PREFIXED


def unpack_argv(blob: bytes | None) -> tuple[bytes, ...] | None:
    """Inverse of :func:`pack_argv`."""
    if blob is None:
        return None
    if not blob:
        return ()
    if blob[-1] == 0:
        return tuple(blob[:-1].split(b"\0"))
    out = []
    pos, end = 0, len(blob) - 1
    while pos < end:
        (size,) = _LEN.unpack_from(blob, pos)
        out.append(blob[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return tuple(out)


def argv_line(blob: bytes | None) -> bytes | None:
    """The command line as bytes (arguments joined by spaces) straight from a packed argv."""
    if blob is None:
        return None
    if not blob or blob[-1] == 0:
        return blob[:-1].replace(b"\0", b" ")
    argv = unpack_argv(blob)
    return b" ".join(argv or ())


def pack_names(names: tuple[str, ...]) -> str:
    """A list of names (``fileless``) as its TEXT column: comma-joined, ``''`` for none."""
    return ",".join(names)


def unpack_names(text: object) -> tuple[str, ...]:
    """Inverse of :func:`pack_names`; NULL (a hand-edited row) is none. ValueError for a BLOB or a
    number, which exectrail never stores there."""
    if text is None or text == "":
        return ()
    if type(text) is not str:
        raise ValueError(f"a list of names is a {type(text).__name__}")
    return tuple(text.split(","))


def unpack_object(text: object) -> dict[str, Any]:
    """Inverse of :func:`~exectrail.jsonform.object_text` (an OBJECT field's TEXT column).
    ValueError for what exectrail never stores there."""
    if type(text) is not str:
        raise ValueError(f"an object column holds a {type(text).__name__}")
    value = orjson.loads(text)  # orjson.JSONDecodeError is a ValueError
    if not isinstance(value, dict):
        raise ValueError(f"an object column holds JSON {type(value).__name__}")
    return value


#: What the migration that added each later column gave the rows stored before it, last column
#: first: a row's digest leaves these out while they hold that value (:func:`hashed_columns`).
_ADDED_DEFAULTS: tuple[tuple[int, object], ...] = tuple(
    (i, 0 if f.kind == BOOL else "" if f.kind == LIST else None)
    for i, f in reversed(list(enumerate(STORED)))
    if f.store > 1
)


def hashed_columns(row: Row) -> Row:
    """The stored values a row's digest covers: all of them, but the columns added after schema 1
    (``incomplete``, ``script``, ``fileless``) only up to the last one that differs from what
    their migration gave old rows (0, NULL, ''), so that rows stored before a column existed keep
    their digest. Each column has its place, so the values left out are known: nothing is lost."""
    end = len(row)
    for i, absent in _ADDED_DEFAULTS:
        if i >= end:  # a row of an older schema, without this column
            continue
        value = row[i]
        if i != end - 1 or type(value) is not type(absent) or value != absent:
            break
        end = i
    return row if end == len(row) else row[:end]


_INTEGERS = frozenset({int, type(None)})


def _not_integer(r: Row) -> None:
    for name, value in zip(COLUMNS, r, strict=True):
        if name in _INTEGER_COLUMNS and type(value) not in _INTEGERS:
            raise ValueError(f"{name} is a {type(value).__name__}, not a number")


_INTEGER_COLUMNS = frozenset(f.column for f in STORED if f.kind == INT or (f.kind == BOOL and f.nullable))


def _not_text(name: str, value: object) -> str:
    raise ValueError(f"{name} is a {type(value).__name__}")


def _event_to_row_source() -> str:
    """``event_to_row``: one tuple display of the stored values, in :data:`COLUMNS` order."""
    values = []
    for f in STORED:
        value = f"e.{f.name}"
        if f.kind == TIME:
            value = f"time_to_ms(e.{f.name})"
        elif f.kind in (TEXT, NAME):  # the common case (ASCII or None) without a call
            v = f.name
            value = f"{v} if ({v} := e.{v}) is None or {v}.isascii() else store_text({v})"
        elif f.kind == BOOL:
            value = f"_SUCCESS[e.{f.name}]" if f.nullable else f"1 if e.{f.name} else 0"
        elif f.kind == ARGV:
            value = f"pack_argv(e.{f.name})"
        elif f.kind == LIST:
            value = f"pack_names(e.{f.name})"
        elif f.kind == OBJECT:
            value = f"None if ({f.name} := e.{f.name}) is None else object_text({f.name})"
        values.append(f"        {value},  # {f.column}\n")
    return "def event_to_row(e):\n    return (\n" + "".join(values) + "    )\n"


def _row_to_event_source() -> str:
    """``row_to_event``: the type checks of the numbers, then the event, each attribute set by name.

    A keyword call of the constructor with 29 arguments costs twice a positional one (1.8 µs more
    per row, measured); setting the attributes of a slotted draft by name and then giving it its
    class (:data:`_Draft`) costs less than either (0.8 µs against 1.3 µs)."""
    index = {f.name: i for i, f in enumerate(STORED)}
    checks, slices = [], []
    nullable_ints = [i for i, f in enumerate(STORED) if f.nullable and f.kind in (INT, BOOL)]
    runs: list[list[int]] = []
    for i in nullable_ints:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs:
        if len(run) > 1:
            slices.append(f"r[{run[0]}:{run[-1] + 1}]")
        else:
            checks.append(f"type(r[{run[0]}]) not in _INTEGERS")
    checks = (
        [f"not _INTEGERS.issuperset(map(type, {s}))" for s in slices]
        + [f"type(r[{i}]) is not int" for i, f in enumerate(STORED) if not f.nullable and f.kind == INT]
        + checks
    )
    args = []
    for name in ATTRIBUTES:
        f, i = STORED[index[name]], index[name]
        value = f"r[{i}]"
        if f.kind == TIME:
            value = f"ms_to_time(r[{i}])"
        elif f.kind == TEXT:
            value = f"load_text(r[{i}])"
        elif f.kind == NAME:  # str (or None) unless someone stored bytes there
            value = f"r[{i}] if type(r[{i}]) is str or r[{i}] is None else _not_text({f.name!r}, r[{i}])"
        elif f.kind == BOOL:
            value = f"_BOOL.get(r[{i}], True)" if f.nullable else f"bool(r[{i}])"
        elif f.kind == ARGV:
            value = f"unpack_argv(r[{i}])"
        elif f.kind == LIST:
            value = f"unpack_names(r[{i}])"
        elif f.kind == OBJECT:
            value = f"None if r[{i}] is None else unpack_object(r[{i}])"
        args.append(f"    e.{name} = {value}\n" if _DRAFT_OK else f"        {name}={value},\n")
    head = f"def row_to_event(r):\n    if {' or '.join(checks)}:\n        _not_integer(r)\n"
    if _DRAFT_OK:
        return head + "    e = _new(_Draft)\n" + "".join(args) + "    e.__class__ = ExecEvent\n    return e\n"
    return head + "    return ExecEvent(\n" + "".join(args) + "    )\n"


class _Draft:
    """:class:`ExecEvent`'s slots without its frozen ``__setattr__``: filled by name, then given its
    real class (as :func:`exectrail.model.fast_constructor` does; Python allows it between classes with
    identical slots)."""

    __slots__ = ExecEvent.__slots__


def _draft_works() -> bool:
    draft: Any = object.__new__(_Draft)
    try:
        draft.__class__ = ExecEvent
    except TypeError:  # another layout: fall back to the keyword call
        return False
    return True


_DRAFT_OK = _draft_works()
EVENT_TO_ROW_SOURCE = _event_to_row_source()
ROW_TO_EVENT_SOURCE = _row_to_event_source()


def _compile(source: str, name: str, doc: str) -> Callable[..., Any]:
    if [f.name for f in dataclasses.fields(ExecEvent)] != list(ATTRIBUTES):
        raise RuntimeError("exectrail.schema and ExecEvent disagree on the fields")
    namespace: dict[str, Any] = {
        "time_to_ms": time_to_ms, "store_text": store_text, "_SUCCESS": _SUCCESS, "pack_argv": pack_argv,
        "ms_to_time": ms_to_time, "load_text": load_text, "_not_text": _not_text, "_BOOL": _BOOL,
        "unpack_argv": unpack_argv, "pack_names": pack_names, "unpack_names": unpack_names,
        "object_text": object_text, "unpack_object": unpack_object,
        "_INTEGERS": _INTEGERS, "_not_integer": _not_integer,
        "ExecEvent": ExecEvent, "_Draft": _Draft, "_new": object.__new__,
    }  # fmt: skip
    exec(compile(source, f"<{__name__}: {name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    function.__doc__, function.__module__ = doc, __name__
    return function


#: The stored column values of an :class:`ExecEvent` in :data:`COLUMNS` order (generated from
#: :mod:`exectrail.schema` when the module loads; :data:`EVENT_TO_ROW_SOURCE` shows the code).
event_to_row: Callable[[ExecEvent], Row] = _compile(
    EVENT_TO_ROW_SOURCE, "event_to_row", "The stored column values of ``e`` in :data:`COLUMNS` order."
)
#: An :class:`ExecEvent` from a row in :data:`COLUMNS` order; ValueError for a row that holds a
#: value of a type exectrail never stores there (a hand-edited store). Generated like
#: :data:`event_to_row` (:data:`ROW_TO_EVENT_SOURCE`).
row_to_event: Callable[[Row], ExecEvent] = _compile(
    ROW_TO_EVENT_SOURCE,
    "row_to_event",
    "An :class:`ExecEvent` from a row in :data:`COLUMNS` order; ValueError for a row that holds a\n"
    "value of a type exectrail never stores there (a hand-edited store).",
)


def search_text(e: ExecEvent) -> str:
    """What full-text search indexes: the command line, or the path of a failed exec."""
    if e.argv is not None:
        return b" ".join(e.argv).decode("utf-8", "replace")
    return (e.path or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
