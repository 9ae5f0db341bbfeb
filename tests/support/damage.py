"""Real captured logs cut into events, and damage applied to some events' lines only.

Shared by the property suite (tests/property/test_damage.py) and the long fuzz run (bench/fuzz.py).
Lines are grouped by their ``msg=audit(...)`` key with a regex of this module's own (the clean
logs are well formed), so the grouping under test is not used to build the expectation. The
expected exec events come from reading each clean log whole: the golden tests pin those to what the
workload really executed, so here "intact" means "decoded as from the clean log".
"""

from __future__ import annotations

import functools
import gzip
import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.support.paths import DATA

BASE_LOGS = ("workload_enriched.log", "workload_raw_node.log.gz", "interleaved_concurrent.log")
_HEADER = re.compile(rb"(?:node=(\S+) )?type=\S+ msg=audit\((\d+)\.(\d{3}):(\d+)\)")
_ANY_KEY = re.compile(rb"(\d+)\.(\d+):(\d+)")
_NUMBER_FIELD = re.compile(rb"(?<=[ (=:.])\d+(?=[ ):.\x1d\n]|$)")

# (node, seconds, milliseconds, serial): an event's identity as written in its lines.
Identity = tuple[str, int, int, int]
HUGE_NUMBERS = (
    b"99999999999999999",  # a 17-digit time
    b"253402300800",  # 10000-01-01: a year past 9999
    b"9223372036854775807",
    b"9223372036854775808",  # 2**63
    b"18446744073709551615",
    b"18446744073709551616",  # 2**64
    b"340282366920938463463374607431768211456",
    b"0000000000000000000000000001",
)


def identity_of(event: ExecEvent) -> Identity:
    """The identity of a decoded event, computed here (not with the model's ``event_id``)."""
    seconds = int(event.time.timestamp())
    return (event.node or "", seconds, event.time.microsecond // 1000, event.serial)


@dataclass(frozen=True)
class Corpus:
    """One clean real log: its lines in file order, each with the index of its event."""

    name: str
    lines: tuple[bytes, ...]  # each ending with b"\n"
    owner: tuple[int, ...]  # event index of each line
    identities: tuple[Identity, ...]  # per event index, in order of first line
    expected: dict[Identity, ExecEvent] = field(repr=False)  # exec events of the clean log

    @property
    def event_count(self) -> int:
        return len(self.identities)


@functools.cache
def corpus(name: str) -> Corpus:
    """The named log of tests/data, cut into events, with its clean decoding."""
    path = DATA / name
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    lines = tuple(raw.splitlines(keepends=True))
    index: dict[Identity, int] = {}
    owner = []
    for line in lines:
        match = _HEADER.match(line)
        assert match is not None, f"{name}: not a clean audit line: {line[:80]!r}"
        node, sec, ms, serial = match.groups()
        ident = ((node or b"").decode(), int(sec), int(ms), int(serial))
        owner.append(index.setdefault(ident, len(index)))
    diagnostics = Diagnostics()
    events = list(read_exec_events([path], diagnostics))
    assert diagnostics.total == 0, f"{name}: the clean log has diagnostics: {diagnostics.counts}"
    expected = {identity_of(e): e for e in events}
    assert len(expected) == len(events), f"{name}: two exec events share an identity"
    return Corpus(name, lines, tuple(owner), tuple(index), expected)


@dataclass
class Damaged:
    """A damaged log and what must come out of it unchanged."""

    data: bytes
    intact: dict[Identity, ExecEvent]  # exec events whose lines were all left untouched
    damaged_lines: int = 0
    garbage_lines: int = 0  # non-empty lines that are certainly no audit record


def _flip(line: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        if line:
            line[rng.randrange(len(line))] = rng.randrange(256)


def _insert(line: bytearray, rng: random.Random, data: bytes) -> None:
    pos = rng.randrange(len(line) + 1)
    line[pos:pos] = data


def _huge(line: bytearray, rng: random.Random) -> None:
    spots = [m.span() for m in _NUMBER_FIELD.finditer(bytes(line))]
    if spots:
        start, end = rng.choice(spots)
        line[start:end] = rng.choice(HUGE_NUMBERS)


def _retime(line: bytearray, rng: random.Random) -> None:
    """Move a line's event in time: a clock step back, or far into the future."""
    match = _HEADER.match(bytes(line))
    if match:
        start, end = match.span(2)
        seconds = int(match.group(2))
        line[start:end] = str(rng.choice([seconds - 3600, seconds + 7200, 4102444800, 1])).encode()


def damage_line(line: bytes, rng: random.Random) -> list[bytes]:
    """A damaged form of one line (zero, one or two lines, each ending with a newline)."""
    body = bytearray(line.rstrip(b"\n"))
    action = rng.randrange(11)
    if action == 0:
        return []  # removed
    if action == 1:
        return [line, line]  # duplicated
    if action == 2:
        del body[rng.randrange(len(body) + 1) :]  # truncated
    elif action == 3:
        _flip(body, rng)
    elif action == 4:
        _insert(body, rng, b"\0" * rng.randint(1, 40))
    elif action == 5:
        _insert(body, rng, bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randint(1, 6))))
    elif action == 6:
        return [bytes(body) + b"\r\n"]
    elif action == 7:
        _huge(body, rng)
    elif action == 8:
        _retime(body, rng)
    elif action == 9:
        cut = rng.randrange(len(body) + 1)  # a newline in the middle: two broken lines
        return [bytes(body[:cut]) + b"\n", bytes(body[cut:]) + b"\n"]
    else:
        _huge(body, rng)
        _flip(body, rng)
    return [bytes(body) + b"\n"]


def garbage_line(rng: random.Random) -> bytes:
    """A non-empty line that is no audit record (never starts with ``type=``/``node=``)."""
    kind = rng.randrange(4)
    if kind == 0:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    elif kind == 1:
        body = b"\0" * rng.randint(1, 4096)  # a crash's zero padding
    elif kind == 2:
        body = b"x" * rng.randint(10_000, 60_000)  # longer than any record
    else:
        body = b"garbage " + bytes(rng.randrange(32, 127) for _ in range(rng.randint(0, 80)))
    body = body.replace(b"\n", b" ")
    return b"#" + body + b"\n"


def damage(corpus: Corpus, rng: random.Random, max_events: int = 40, ratio: float = 0.3) -> Damaged:
    """A window of ``corpus`` where about ``ratio`` of the events have damaged lines, damaged lines
    may move anywhere, garbage lines are put between lines, and lines of different events swap
    places (as concurrent events interleave); intact events keep their lines byte for byte and in
    their order."""
    count = rng.randint(2, max_events)
    start = rng.randrange(max(1, corpus.event_count - count))
    window = range(start, start + count)
    hit = {i for i in window if rng.random() < ratio} or {rng.choice(window)}
    out: list[tuple[int, bytes]] = []  # (event index, or -1 for a damaged or garbage line; line)
    moved: list[bytes] = []
    foreign: list[bytes] = []  # every line not copied from an intact event
    garbage = damaged = 0
    for line, owner in zip(corpus.lines, corpus.owner, strict=True):
        if owner not in window:
            continue
        if owner not in hit or rng.random() < 0.4:
            out.append((owner, line))
            if owner in hit:
                foreign.append(line)
            continue
        pieces = damage_line(line, rng)
        damaged += 1
        foreign.extend(pieces)
        if rng.random() < 0.3:
            moved.extend(pieces)
        else:
            out.extend((-1, piece) for piece in pieces)
        if rng.random() < 0.15:
            out.append((-1, garbage_line(rng)))
            garbage += 1
    for piece in moved:
        out.insert(rng.randrange(len(out) + 1), (-1, piece))
    for _ in range(rng.randrange(len(out) // 3 + 1)):  # interleave: neighbours of two events swap
        i = rng.randrange(max(1, len(out) - 1))
        if i + 1 < len(out) and (out[i][0] != out[i + 1][0] or out[i][0] == -1):
            out[i], out[i + 1] = out[i + 1], out[i]
    data = b"".join(line for _, line in out)
    if out and out[-1][0] == -1 and rng.random() < 0.3:
        data = data[:-1]  # a last damaged line cut before its newline
    touched = _named_keys(foreign)
    intact = {}
    for i in window:
        ident = corpus.identities[i]
        if i not in hit and ident in corpus.expected and ident[1:] not in touched:
            intact[ident] = corpus.expected[ident]
    return Damaged(data, intact, damaged, garbage)


def _named_keys(lines: Sequence[bytes]) -> set[tuple[int, int, int]]:
    """Every (seconds, ms, serial) that a damaged line might name: such an event is not intact."""
    found = set()
    for line in lines:
        for m in _ANY_KEY.finditer(line):
            found.add((int(m.group(1)), int(m.group(2)), int(m.group(3))))
    return found


def as_file_bytes(data: bytes, form: str, rng: random.Random) -> bytes:
    """``data`` as a file: ``plain``, ``gzip``, ``multi`` (several gzip members) or ``padded``
    (gzip followed by zero bytes, which zcat accepts)."""
    if form == "plain":
        return data
    if form == "gzip":
        return gzip.compress(data, mtime=0)
    if form == "multi":
        cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(1, 3)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        return b"".join(gzip.compress(p, mtime=0) for p in pieces)
    if form == "padded":
        return gzip.compress(data, mtime=0) + b"\0" * rng.choice([1, 512, 4096, 10_000])
    raise ValueError(form)


FILE_FORMS = ("plain", "gzip", "multi", "padded")


def deflate_garbage(data: bytes) -> bytes:
    """Random bytes behind a gzip header: a damaged compressed stream."""
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + zlib.compress(data)[2:] + data
