"""Reading audit log files (plain, gzip, stdin) into records, counting what is bad.

A file is checked for readability before anything is read (a missing or unreadable file is an
:class:`~exectrail.errors.InputError`); damage found while reading (garbage lines, a truncated or
damaged gzip stream, a file that holds no audit records at all) becomes diagnostics and file
problems, and every good record before and after it is still yielded. Memory stays bounded: a line
longer than :data:`MAX_LINE_BYTES` is counted and skipped, and gzip is inflated a block at a time.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from exectrail.errors import InputError
from exectrail.model import Diagnostics, Record
from exectrail.parse.gunzip import GZIP_MAGIC, GzipDamage, GzipReader
from exectrail.parse.record import MalformedRecord, parse_block

DEFAULT_LOG = Path("/var/log/audit/audit.log")
STDIN = "-"


def rereadable(name: str) -> bool:
    """True when ``name`` can be read a second time: a regular file (not stdin, a pipe such as
    ``<(zcat …)`` or a device, which give each byte to one reader only)."""
    try:
        return name != STDIN and stat.S_ISREG(os.stat(name).st_mode)
    except (OSError, ValueError):
        return False


NEWLINE = b"\n"
BLOCK_SIZE = 1 << 20  # bytes read at a time; records are parsed a block of lines at a time
# A line longer than this is reported (line-too-long) and skipped. The kernel caps a record near
# 9 KB (ENRICHED adds the interpreted part); 1 MiB is far beyond anything auditd writes. It must be
# at least BLOCK_SIZE (see _LineBlocks).
MAX_LINE_BYTES = BLOCK_SIZE

ProgressCallback = Callable[[int], None]


@dataclass
class ReadStats:
    """What the reader saw: lines and records per run, and whole-file problems."""

    files: int = 0
    lines: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)


def default_log_paths(primary: Path = DEFAULT_LOG) -> list[Path]:
    """``audit.log`` and its rotations (``audit.log.N``, ``audit.log.N.gz``), oldest first."""
    rotated: list[tuple[int, Path]] = []
    pattern = re.compile(re.escape(primary.name) + r"\.(\d+)(?:\.gz)?$")
    if primary.parent.is_dir():
        for entry in primary.parent.iterdir():
            match = pattern.match(entry.name)
            if match:
                rotated.append((int(match.group(1)), entry))
    paths = [p for _, p in sorted(rotated, key=lambda item: -item[0])]
    if primary.exists() or not paths:
        paths.append(primary)
    return paths


def check_readable(paths: Iterable[str | Path]) -> None:
    """Raise :class:`InputError` naming the first path that cannot be opened for reading."""
    for path in paths:
        if str(path) == STDIN:
            continue
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory") from None
        except PermissionError:
            raise InputError(f"{path}: permission denied (reading audit logs usually needs root)") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def total_size(paths: Iterable[str | Path]) -> int | None:
    """Sum of the files' sizes for a progress bar; None when stdin is among them."""
    total = 0
    for path in paths:
        if str(path) == STDIN:
            return None
        total += os.stat(path).st_size
    return total


def read_records(
    paths: Iterable[str | Path],
    diagnostics: Diagnostics,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[Record]:
    """Yield every well-formed record of the files in order; bad lines become diagnostics."""
    for block in read_record_blocks(paths, diagnostics, stats, progress):
        yield from block


def read_record_blocks(
    paths: Iterable[str | Path],
    diagnostics: Diagnostics,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[list[Record]]:
    """:func:`read_records` a block of lines at a time (lists of records, none empty)."""
    stats = stats if stats is not None else ReadStats()
    for path in paths:
        name = str(path)
        stats.files += 1
        raw: BinaryIO = sys.stdin.buffer if name == STDIN else open(name, "rb")  # noqa: SIM115
        try:
            yield from _read_stream(raw, name, diagnostics, stats, progress)
        finally:
            if raw is not sys.stdin.buffer:
                raw.close()


def _open_stream(raw: BinaryIO) -> tuple[Callable[[int], bytes], Callable[[], int]]:
    """A ``read(size)`` for ``raw`` (gunzipping when it starts with the gzip magic) and a position getter."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    head = buffered.peek(2)[:2]
    if head == GZIP_MAGIC:
        return GzipReader(buffered).read, buffered.tell
    if head != GZIP_MAGIC[:1]:
        return buffered.read, buffered.tell
    head = buffered.read(2)  # a pipe that has given one byte so far: wait for the second
    if head == GZIP_MAGIC:
        return GzipReader(buffered, start=head).read, buffered.tell
    return _given_back(head, buffered.read), buffered.tell


def _given_back(head: bytes, read: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """``read``, whose first call also returns ``head`` (bytes already read), first."""
    pending = [head]

    def read_after(size: int) -> bytes:
        if not pending:
            return read(size)
        first = pending.pop()
        return first + read(size - len(first))

    return read_after


class LineBlocks:
    """Iterates a ``read(size)`` as blocks of whole lines (bytes), and as ``int`` for a line longer
    than :data:`MAX_LINE_BYTES` (its length without the newline: skipped, never held in memory).

    A last line without its newline gets one (and sets ``cut_last``). A :class:`GzipDamage`
    ends the input; it is kept in ``damage``.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.damage: GzipDamage | None = None
        self.cut_last = False

    def _chunk(self) -> bytes:
        try:
            return self._read(BLOCK_SIZE)
        except GzipDamage as exc:
            self.damage = exc
            return b""

    def __iter__(self) -> Iterator[bytes | int]:
        rest = b""  # the start of a line (never more than MAX_LINE_BYTES)
        skipped = 0  # inside an overlong line: its bytes so far
        while chunk := self._chunk():
            first = chunk.find(NEWLINE)
            if first < 0:  # no line ends in this chunk
                if skipped or len(rest) + len(chunk) > MAX_LINE_BYTES:
                    skipped += len(rest) + len(chunk)
                    rest = b""
                else:
                    rest += chunk
                continue
            if skipped or len(rest) + first > MAX_LINE_BYTES:  # the line that ends here is overlong
                yield skipped + len(rest) + first
                skipped, rest, chunk = 0, b"", chunk[first + 1 :]
            cut = chunk.rfind(NEWLINE)  # (chunks hold at most BLOCK_SIZE bytes: no overlong line inside)
            if cut >= 0:
                yield rest + chunk[: cut + 1] if rest else chunk[: cut + 1]
                rest = b""
            rest += chunk[cut + 1 :]
        if skipped:
            self.cut_last = True
            yield skipped
        elif rest:
            self.cut_last = True
            yield rest + NEWLINE


class BlockParser:
    """The records of the blocks :class:`LineBlocks` gives for one input called ``name``: each bad
    line (an overlong one included) becomes a diagnostic at ``name:N``; ``lines`` counts the lines
    so far. The log files and auditd's plugin stream are both read through it."""

    def __init__(self, name: str, diagnostics: Diagnostics) -> None:
        self.name = name
        self.diagnostics = diagnostics
        self.lines = 0

    def parse(self, block: bytes | int) -> list[Record]:
        """The records of ``block`` (whole lines), none for an overlong line (its length)."""
        if isinstance(block, int):
            self.lines += 1
            reason = f"a line of {block:,} bytes, longer than any audit record (limit {MAX_LINE_BYTES:,})"
            self.diagnostics.add("line-too-long", reason, f"{self.name}:{self.lines}")
            return []
        found = parse_block(block, self._bad_line)
        self.lines += block.count(NEWLINE)
        return found

    def _bad_line(self, index: int, line: bytes, error: MalformedRecord) -> None:
        self.diagnostics.add(error.kind, error.reason, f"{self.name}:{self.lines + index + 1}")


def _read_stream(
    raw: BinaryIO,
    name: str,
    diagnostics: Diagnostics,
    stats: ReadStats,
    progress: ProgressCallback | None,
) -> Iterator[list[Record]]:
    read, position = _open_stream(raw)
    blocks = LineBlocks(read)
    parser = BlockParser(name, diagnostics)
    records = 0
    last_pos = 0
    try:
        for block in blocks:
            found = parser.parse(block)
            if found:
                records += len(found)
                yield found
            if progress is not None:
                pos = position()
                progress(pos - last_pos)
                last_pos = pos
    except OSError as exc:
        stats.problems.append(f"{name}: read error after line {parser.lines}: {exc.strerror or exc}")
    finally:
        stats.lines += parser.lines
        stats.records += records
        if progress is not None:
            with contextlib.suppress(OSError, ValueError):
                progress(max(position() - last_pos, 0))
    lines = parser.lines
    if blocks.damage is not None:
        _report_damage(blocks.damage, name, lines - blocks.cut_last, diagnostics, stats)
    if lines and not records:
        stats.problems.append(f"{name}: not an audit log ({lines} lines, none is an audit record)")


def _report_damage(
    damage: GzipDamage, name: str, lines: int, diagnostics: Diagnostics, stats: ReadStats
) -> None:
    problem = f"{damage} after line {lines}"
    if damage.truncated:
        diagnostics.add("truncated-file", problem, f"{name}:{lines}")
        stats.problems.append(f"{name}: truncated compressed file: {problem}")
    else:
        diagnostics.add("damaged-file", problem, f"{name}:{lines}")
        stats.problems.append(f"{name}: damaged compressed file: {problem}")
