"""Line-level integrity of a log file: damaged lines, a cut last line, and ENRICHED parts that
contradict their raw part.

auditd in ENRICHED format appends 0x1d and interpreted fields to every SYSCALL record
(``ARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" …``). Someone editing the raw part by hand
(``uid=0`` → ``uid=1000``, ``syscall=59`` → ``syscall=2``) rarely fixes the interpreted part too:

* ``ARCH``/``SYSCALL`` that do not match ``arch``/``syscall`` for exec syscalls (a fixed table),
  or a SYSCALL line without (or, in a RAW log, with) the interpreted part: certain;
* a user or group id whose name differs from the name the same id has everywhere else in the file
  (or a name given to two ids): suspicious -- users can be renamed while auditd runs.

Lines the reader could not parse (reported by its diagnostics with file:line) are quoted here as
evidence; a file whose unparseable last line has no newline was cut short.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from exectrail.interference import kinds
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm
from exectrail.parse.fields import split_fields
from exectrail.parse.record import parse_line
from exectrail.parse.types import EXEC_SYSCALLS, arch_name
from exectrail.timefmt import EPOCH

BLOCK = 1 << 20
KEEP = 64 << 10  # bytes of a line looked at: far more than any audit record (about 9 KB at most)
SEPARATOR = b"\x1d"
USER_FIELDS = (
    (b"auid", b"AUID"),
    (b"uid", b"UID"),
    (b"euid", b"EUID"),
    (b"suid", b"SUID"),
    (b"fsuid", b"FSUID"),
)
GROUP_FIELDS = ((b"gid", b"GID"), (b"egid", b"EGID"), (b"sgid", b"SGID"), (b"fsgid", b"FSGID"))
MAX_EXAMPLES = 5
MAX_SEEN = 50_000


@dataclass
class BadLine:
    """A line the reader rejected: 1-based number, diagnostic kind and reason."""

    line: int
    kind: str
    reason: str


@dataclass
class _Names:
    """id → name pairs seen in one namespace (users or groups), with where each pair was seen."""

    pairs: Counter[tuple[bytes, bytes]] = field(default_factory=Counter)
    where: dict[tuple[bytes, bytes], list[tuple[int, bytes]]] = field(default_factory=dict)

    def add(self, number: bytes, name: bytes, lineno: int, line: bytes) -> None:
        pair = (number, name)
        self.pairs[pair] += 1
        seen = self.where.setdefault(pair, [])
        if len(seen) < MAX_EXAMPLES:
            seen.append((lineno, line))

    def conflicts(self) -> list[tuple[tuple[bytes, bytes], tuple[bytes, bytes]]]:
        """(odd pair, usual pair): an id with two names, or a name with two ids; the rarer one is odd."""
        out = []
        pairs = sorted(self.pairs.items(), key=lambda kv: -kv[1])
        for index, (pair, _count) in enumerate(pairs):
            for usual, _n in pairs[:index]:
                if (pair[0] == usual[0]) != (pair[1] == usual[1]) and pair[1] != b'"unset"':
                    out.append((pair, usual))
                    break
        return out


@dataclass
class _Seen:
    """What one combination of raw ids and interpreted part gave (most SYSCALL lines repeat one)."""

    count: int = 1
    mismatch: str = ""
    users: list[tuple[bytes, bytes]] = field(default_factory=list)
    groups: list[tuple[bytes, bytes]] = field(default_factory=list)


def _exec_mismatch(rf: dict[bytes, bytes], ef: dict[bytes, bytes]) -> str:
    """How ARCH/SYSCALL contradict arch/syscall for the exec syscalls (a fixed table), or ''."""
    arch = arch_name(rf.get(b"arch", b"").decode("ascii", "replace"))
    named_arch = ef.get(b"ARCH", b"").decode("ascii", "replace")
    if named_arch and not arch.startswith("0x") and named_arch != arch:
        return f"arch={arch} but ARCH={named_arch}"
    try:
        number = int(rf.get(b"syscall", b"-1"))
    except ValueError:
        number = -1
    raw_exec = EXEC_SYSCALLS.get((arch, number))
    named = ef.get(b"SYSCALL", b"").decode("ascii", "replace")
    if (raw_exec or named in ("execve", "execveat")) and raw_exec != named:
        return f"syscall={number} but SYSCALL={named}"
    return ""


def iter_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """``(number, line)`` for every line of a plain or gzip file (1-based; newline kept).

    Numbered as the reader numbers them. A line longer than :data:`KEEP` bytes (no audit record
    is; the reader reports it) comes cut to its first ``KEEP`` bytes, so memory stays bounded and
    time linear however long a line is."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
        number = 0
        rest = b""  # the start of the current line, at most KEEP bytes
        try:
            while chunk := stream.read(BLOCK):
                lines = chunk.split(b"\n")
                last = lines.pop()
                if lines and rest:
                    lines[0] = rest + lines[0]
                    rest = b""
                for line in lines:
                    number += 1
                    yield number, (line if len(line) <= KEEP else line[:KEEP]) + b"\n"
                if len(rest) < KEEP:
                    rest += last[: KEEP - len(rest)]
        except (EOFError, OSError, zlib.error):
            pass  # a cut gzip stream: the reader reports it; check what could be read
        if rest:
            yield number + 1, rest


class LineChecker:
    """Checks one file's lines; :meth:`run` returns its alarms."""

    def __init__(self, path: str, bad: list[BadLine] | None = None) -> None:
        self.path = path
        self.bad = {b.line: b for b in bad or ()}
        self.bad_text: dict[int, bytes] = {}
        self.bad_prev: dict[int, bytes] = {}  # the good line before each quoted bad line (for its time)
        self.enriched: bool | None = None
        self.format_flips: list[tuple[int, bytes, str]] = []
        self.exec_mismatch: list[tuple[int, bytes, str]] = []
        self.users = _Names()
        self.groups = _Names()
        self.last: tuple[int, bytes] | None = None
        self.first_good = b""  # the first record the reader took (its time stands in for unknown ones)
        self.before_last = b""
        self._seen: dict[tuple[bytes, bytes, bytes], _Seen] = {}

    def run(self) -> list[Alarm]:
        previous = b""
        for number, line in iter_lines(self.path):
            self.last = (number, line)
            if number in self.bad:
                if len(self.bad_text) < 50:
                    self.bad_text[number] = line
                    self.bad_prev[number] = previous
                continue
            self.before_last, previous = previous, line
            if not self.first_good and b"msg=audit(" in line[:200]:  # (a blank line has no time)
                self.first_good = line
            head = line[:96]
            if b"type=DAEMON_START " in head:
                fmt = split_fields(line.partition(SEPARATOR)[0]).get(b"format")
                self.enriched = fmt == b"enriched" if fmt in (b"enriched", b"raw") else self.enriched
            elif b"type=SYSCALL " in head and line.endswith(b"\n"):  # (a cut last line is reported apart)
                self._syscall(number, line)
        return self._alarms()

    def _syscall(self, number: int, line: bytes) -> None:
        raw, sep, interpreted = line.rstrip(b"\r\n").partition(SEPARATOR)
        if self.enriched is None:
            self.enriched = bool(sep)
        if bool(sep) != self.enriched:
            what = "has an interpreted part in a RAW log" if sep else "lacks the ENRICHED part auditd writes"
            self.format_flips.append((number, line, what))
            return
        start = raw.find(b"): ")
        if not sep or start < 0:
            return
        body = raw[start + 3 :]
        ids = body.find(b" auid=")
        key = (body[: body.find(b" success=")], body[ids : body.find(b" tty=", ids)], interpreted)
        seen = self._seen.get(key)
        if seen is not None:  # the same ids and names as an earlier line: same verdict
            seen.count += 1
            if seen.mismatch:
                self.exec_mismatch.append((number, line, seen.mismatch))
            return
        rf, ef = split_fields(body), split_fields(interpreted)
        mismatch = _exec_mismatch(rf, ef)
        if mismatch:
            self.exec_mismatch.append((number, line, mismatch))
        entry = _Seen(mismatch=mismatch)
        for names, fields, pairs in (
            (self.users, USER_FIELDS, entry.users),
            (self.groups, GROUP_FIELDS, entry.groups),
        ):
            for raw_name, enriched_name in fields:
                value, name = rf.get(raw_name), ef.get(enriched_name)
                if value is not None and name is not None:
                    names.add(value, name, number, line)
                    pairs.append((value, name))
        if len(self._seen) < MAX_SEEN:
            self._seen[key] = entry

    def _count_repeats(self) -> None:
        """Add the lines that were cache hits to the id/name pair counts."""
        for entry in self._seen.values():
            if entry.count > 1:
                for names, pairs in ((self.users, entry.users), (self.groups, entry.groups)):
                    for pair in pairs:
                        names.pairs[pair] += entry.count - 1

    def _alarms(self) -> list[Alarm]:
        self._count_repeats()
        out: list[Alarm] = []
        out.extend(self._bad_line_alarms())
        if self.format_flips:
            out.append(self._edited(self.format_flips, "SYSCALL line(s) whose format differs from the rest"))
        if self.exec_mismatch:
            out.append(
                self._edited(
                    self.exec_mismatch, "SYSCALL line(s) whose ENRICHED part contradicts the raw part"
                )
            )
        for label, names in (("user", self.users), ("group", self.groups)):
            for odd, usual in names.conflicts():
                out.append(self._name_conflict(label, names, odd, usual))
        return out

    def _bad_line_alarms(self) -> list[Alarm]:
        out = []
        numbers = sorted(self.bad)
        if self.last is not None and not self.last[1].endswith(b"\n"):  # auditd always ends its lines
            last, text = self.last
            if last in self.bad:
                numbers.remove(last)
                text = self.bad_text.get(last, text)
            summary = (
                f"the last line of {self.path} (line {last}) is cut short: auditd was stopped mid-write, "
                "the disk was full, or the file was truncated"
            )
            when = _line_time([(0, text), (0, self.before_last)], self._fallback())
            out.append(
                self._alarm(kinds.LINE_TRUNCATED, summary, SUSPICIOUS, {"line": last}, [(last, text)], when)
            )
        if numbers:
            first = self.bad[numbers[0]]
            examples = [(n, self.bad_text.get(n, b"")) for n in numbers[:MAX_EXAMPLES]]
            summary = (
                f"{len(numbers)} line{'s' if len(numbers) != 1 else ''} of {self.path} that auditd cannot "
                f"have written (first: line {first.line}, {first.reason}): edited by hand, or damaged"
            )
            details: dict[str, object] = {"lines": numbers[:100], "count": len(numbers)}
            when = _line_time([(0, self.bad_prev.get(numbers[0], b""))], self._fallback())
            out.append(self._alarm(kinds.LINE_MALFORMED, summary, CERTAIN, details, examples, when))
        return out

    def _edited(self, found: list[tuple[int, bytes, str]], what: str) -> Alarm:
        summary = (
            f"{len(found)} {what} in {self.path} (first: line {found[0][0]}, {found[0][2]}): edited by hand"
        )
        details: dict[str, object] = {"lines": [n for n, _, _ in found[:100]], "count": len(found)}
        return self._alarm(
            kinds.LINE_EDITED, summary, CERTAIN, details, [(n, line) for n, line, _ in found[:MAX_EXAMPLES]]
        )

    def _name_conflict(
        self, label: str, names: _Names, odd: tuple[bytes, bytes], usual: tuple[bytes, bytes]
    ) -> Alarm:
        o_id, o_name = (x.decode("utf-8", "replace") for x in odd)
        u_id, u_name = (x.decode("utf-8", "replace") for x in usual)
        where = names.where[odd]
        summary = (
            f"{names.pairs[odd]} SYSCALL line(s) in {self.path} give {label} id {o_id} the name {o_name}, "
            f"but {names.pairs[usual]} others give {u_id} the name {u_name} (first: line {where[0][0]}): "
            "the raw part was edited by hand, or the account was renamed or renumbered"
        )
        details: dict[str, object] = {
            "lines": [n for n, _ in where],
            "odd": [o_id, o_name],
            "usual": [u_id, u_name],
        }
        return self._alarm(kinds.LINE_EDITED, summary, SUSPICIOUS, details, where)

    def _alarm(
        self,
        kind: str,
        summary: str,
        certainty: str,
        details: dict[str, object],
        lines: list[tuple[int, bytes]],
        when: datetime | None = None,
    ) -> Alarm:
        details = {"file": self.path, **details}
        evidence = tuple(f"{self.path}:{n}: {_text(line)}" for n, line in lines)
        return Alarm(
            kind, when or _line_time(lines, self._fallback()), summary, certainty, None, details, evidence
        )

    def _fallback(self) -> datetime | None:
        return _time_of(self.first_good) if self.first_good else None


def _text(line: bytes) -> str:
    return line.rstrip(b"\r\n").replace(SEPARATOR, b" ").decode("utf-8", "surrogateescape")[:2000]


def _line_time(lines: list[tuple[int, bytes]], fallback: datetime | None = None) -> datetime:
    """The audit time of the first example line that has one, else ``fallback`` (the time of the
    file's first record), else the epoch (unknown)."""
    for _, line in lines:
        found = _time_of(line)
        if found is not None:
            return found
    return fallback or EPOCH


def _time_of(line: bytes) -> datetime | None:
    head = line.partition(SEPARATOR)[0].rstrip(b"\r\n")
    if len(head) > KEEP or b"msg=audit(" not in head[:200]:
        return None
    try:
        return parse_line(head).time
    except (ValueError, IndexError, OverflowError):  # not a record (the reader said why)
        return None


def check_lines(path: str, bad: list[BadLine] | None = None) -> list[Alarm]:
    """Line-level alarms for one plain or gzip log file (``bad``: the reader's rejected lines)."""
    return LineChecker(path, bad).run()
