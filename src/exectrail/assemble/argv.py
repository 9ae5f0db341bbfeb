"""argv from the EXECVE records of one event, byte-exact.

Values are quoted or hex; long arguments come as ``aN_len`` with ``aN[k]`` chunks; a large argv
continues over several EXECVE records. ``argc`` is checked against what was found; a mismatch is a
diagnostic, never an exception.
"""

from __future__ import annotations

from typing import cast

from exectrail.assemble.memo import remember
from exectrail.model import Diagnostics, Record
from exectrail.parse.fields import decode_value, field_pairs

Argv = tuple[int | None, tuple[bytes, ...]]


def rebuild_argv(records: list[Record], diagnostics: Diagnostics) -> Argv:
    """argc and argv from the EXECVE records of one event (in log order)."""
    if len(records) == 1:
        body = records[0].body
        simple = _SIMPLE.get(body) or _simple_argv(body)
        if simple is not None:
            return simple
    argc: int | None = None
    single: dict[int, bytes] = {}
    chunks: dict[int, dict[int, bytes]] = {}
    lengths: dict[int, int] = {}
    event = records[0].key.decode()
    for rec in records:
        for name, value in field_pairs(rec.body):
            if name == b"argc":
                argc = _int_or_none(value)
                continue
            if name[:1] != b"a":
                diagnostics.add("execve-unknown-field", f"event {event}: field {name!r}", rec.origin)
                continue
            rest = name[1:]
            try:
                if rest.isdigit():
                    single[int(rest)] = value
                elif rest.endswith(b"_len"):
                    lengths[int(rest[:-4])] = int(value)
                elif rest.endswith(b"]"):
                    number, _, part = rest[:-1].partition(b"[")
                    chunks.setdefault(int(number), {})[int(part)] = value
                else:
                    raise ValueError(name)
            except ValueError:
                diagnostics.add("execve-unknown-field", f"event {event}: field {name!r}", rec.origin)
    declared = argc if argc is not None else max([*single, *chunks], default=-1) + 1
    argv: list[bytes] = []
    for index in range(declared):
        encoded = single.get(index)
        if encoded is not None:
            raw = decode_value(encoded)
            argv.append(raw if raw is not None else b"")
            continue
        parts = chunks.get(index)
        if parts is None:
            diagnostics.add("argc-mismatch", f"event {event}: argc={declared} but a{index} is missing")
            break
        argv.append(_join_chunks(parts, lengths.get(index), event, index, diagnostics))
    if argc is None:
        diagnostics.add("execve-no-argc", f"event {event}: EXECVE without argc")
    elif max([*single, *chunks], default=-1) >= argc:
        diagnostics.add("argc-mismatch", f"event {event}: argc={argc} but more arguments were logged")
    return argc, tuple(argv)


_ARG_NAMES = tuple(b"a%d" % index for index in range(4096))  # more than one record can hold
_SIMPLE: dict[bytes, Argv] = {}  # body -> argc, argv: commands repeat (loops, cron, scripts)


def _simple_argv(body: bytes) -> Argv | None:
    """The usual EXECVE record, ``argc=N a0=… … aN-1=…`` and nothing else, the short way (what
    the general path gives, with no diagnostics); None for anything else (chunks, continuation
    records, odd fields), left to the general path."""
    pairs = field_pairs(body)
    if not pairs:
        return None
    names, values = zip(*pairs, strict=True)
    argc = _int_or_none(values[0]) if names[0] == b"argc" else None
    if argc is None or argc != len(names) - 1 or names[1:] != _ARG_NAMES[:argc]:
        return None
    argv = tuple(map(decode_value, values[1:]))
    if None in argv:  # (null): the general path logs it as b""
        return None
    return remember(_SIMPLE, body, (argc, cast("tuple[bytes, ...]", argv)))


def _join_chunks(
    parts: dict[int, bytes], logged_len: int | None, event: str, index: int, diagnostics: Diagnostics
) -> bytes:
    """Join ``aN[k]`` chunks. ``aN_len`` counts the characters logged: bytes for quoted chunks (a
    printable argument under 7,500 bytes that did not fit the record), hex digits otherwise."""
    pieces = []
    logged = 0
    for k in range(len(parts)):
        piece = parts.get(k)
        if piece is None:
            diagnostics.add("argv-chunk-missing", f"event {event}: a{index}[{k}] is missing")
            break
        raw = decode_value(piece)
        pieces.append(raw if raw is not None else b"")
        logged += len(piece) - 2 if piece[:1] == b'"' else len(piece)
    if logged_len is not None and logged_len != logged:
        diagnostics.add(
            "argv-length-mismatch",
            f"event {event}: a{index}_len={logged_len} but {logged} characters were logged",
        )
    return b"".join(pieces)


def _int_or_none(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
