"""argv from the EXECVE records of one event, byte-exact.

Values are quoted or hex; long arguments come as ``aN_len`` with ``aN[k]`` chunks; a large argv
continues over several EXECVE records. What arrived is checked against what the kernel announced:
``argc`` against the arguments found, ``aN_len`` against the characters of the chunks (bytes for a
quoted chunk, hex digits for a hex one). A mismatch, a missing chunk or an argument that cannot be
decoded is a diagnostic and makes the argv *not intact* (the event is then incomplete), never an
exception. An argument that cannot be decoded leaves argv None: no argument is made up.
"""

from __future__ import annotations

from typing import cast

from exectrail.assemble.memo import remember
from exectrail.model import Diagnostics, Record
from exectrail.parse.fields import BadValue, decode_int, decode_value, field_pairs, shown

ARGC_MAX = 2**31 - 1  # the kernel's argc is an int
# argc, argv (None when an argument could not be decoded), intact (nothing known to be missing)
Argv = tuple[int | None, tuple[bytes, ...] | None, bool]


def rebuild_argv(records: list[Record], diagnostics: Diagnostics) -> Argv:
    """argc, argv and whether they are intact, from the EXECVE records of one event (log order)."""
    if len(records) == 1:
        body = records[0].body
        simple = _SIMPLE.get(body) or _simple_argv(body)
        if simple is not None:
            return simple
    return _general_argv(records, diagnostics)


def _general_argv(records: list[Record], diagnostics: Diagnostics) -> Argv:
    argc: int | None = None
    single: dict[int, bytes] = {}
    chunks: dict[int, dict[int, bytes]] = {}
    lengths: dict[int, int] = {}
    event = records[0].key.decode("ascii", "replace")
    report = diagnostics.add
    intact = True
    argc_logged = False
    for rec in records:
        for name, value in field_pairs(rec.body):
            try:
                if name == b"argc":
                    argc_logged = True
                    argc = decode_int(value, 0, ARGC_MAX)
                    continue
                if name[:1] != b"a":
                    raise ValueError(name)
                rest = name[1:]
                if rest.isdigit():
                    single[int(rest)] = value
                elif rest.endswith(b"_len"):
                    lengths[_index(rest[:-4])] = decode_int(value, 0, ARGC_MAX)
                elif rest.endswith(b"]"):
                    number, _, part = rest[:-1].partition(b"[")
                    chunks.setdefault(_index(number), {})[_index(part)] = value
                else:
                    raise ValueError(name)
            except BadValue as bad:
                report("bad-value", f"event {event}: {shown(name)}={bad.reason}", rec.origin)
                intact = False
            except ValueError:
                report("execve-unknown-field", f"event {event}: field {shown(name)}", rec.origin)
    logged = max([*single, *chunks], default=-1) + 1
    declared = argc if argc is not None else logged
    argv: list[bytes] = []
    undecodable = False
    for index in range(declared):
        encoded = single.get(index)
        parts = chunks.get(index) if encoded is None else None
        if encoded is None and parts is None:
            report("argc-mismatch", f"event {event}: argc={declared} but a{index} is missing")
            intact = False
            break
        try:
            if encoded is not None:
                raw = decode_value(encoded)
                arg = raw if raw is not None else b""
            else:
                arg, whole = _join_chunks(cast("dict[int, bytes]", parts), lengths.get(index), event,
                                          index, diagnostics)  # fmt: skip
                intact = intact and whole
        except BadValue as bad:
            report("bad-value", f"event {event}: a{index}={bad.reason}: argv left empty (null)")
            intact = False
            undecodable = True
            break
        argv.append(arg)
    if argc is None:
        if not argc_logged:
            report("execve-no-argc", f"event {event}: EXECVE without argc")
        intact = False
    elif logged > argc:
        report("argc-mismatch", f"event {event}: argc={argc} but more arguments were logged")
        intact = False
    return argc, None if undecodable else tuple(argv), intact


def _index(digits: bytes) -> int:
    """An argument or chunk number: plain digits, not too many (else ValueError)."""
    if not digits.isdigit() or len(digits) > 10:
        raise ValueError(digits)
    return int(digits)


_ARG_NAMES = tuple(b"a%d" % index for index in range(4096))  # more than one record can hold
_SIMPLE: dict[bytes, Argv] = {}  # body -> argc, argv: commands repeat (loops, cron, scripts)


def _simple_argv(body: bytes) -> Argv | None:
    """The usual EXECVE record, ``argc=N a0=… … aN-1=…`` and nothing else, the short way (what
    the general path gives, with no diagnostics); None for anything else (chunks, continuation
    records, odd fields, undecodable values), left to the general path."""
    pairs = field_pairs(body)
    if not pairs:
        return None
    names, values = zip(*pairs, strict=True)
    first = values[0]
    argc = int(first) if names[0] == b"argc" and first.isdigit() and len(first) < 5 else None
    if argc is None or argc != len(names) - 1 or names[1:] != _ARG_NAMES[:argc]:
        return None
    try:
        argv = tuple(map(decode_value, values[1:]))
    except BadValue:
        return None
    if None in argv:  # (null): the general path logs it as b""
        return None
    return remember(_SIMPLE, body, (argc, cast("tuple[bytes, ...]", argv), True))


def _join_chunks(
    parts: dict[int, bytes], logged_len: int | None, event: str, index: int, diagnostics: Diagnostics
) -> tuple[bytes, bool]:
    """Join ``aN[k]`` chunks; True when all arrived and ``aN_len`` agrees. ``aN_len`` counts the
    characters logged: bytes for quoted chunks (a printable argument under 7,500 bytes that did not
    fit the record), hex digits otherwise -- kernels before 4.8 counted the argument's bytes for hex
    chunks too, so that count agrees as well (a chunk lost gives fewer of both). Raises BadValue for
    a chunk that cannot be decoded."""
    pieces = []
    logged = 0
    whole = True
    for k in range(len(parts)):
        piece = parts.get(k)
        if piece is None:
            diagnostics.add("argv-chunk-missing", f"event {event}: a{index}[{k}] is missing")
            whole = False
            break
        raw = decode_value(piece)
        pieces.append(raw if raw is not None else b"")
        logged += len(piece) - 2 if piece[:1] == b'"' else len(piece)
    if logged_len is None:
        diagnostics.add(
            "argv-length-mismatch", f"event {event}: a{index} came in chunks without a{index}_len"
        )
        whole = False
    elif logged_len != logged and logged_len != sum(map(len, pieces)):
        diagnostics.add(
            "argv-length-mismatch",
            f"event {event}: a{index}_len={logged_len} but {logged} characters were logged",
        )
        whole = False
    return b"".join(pieces), whole
