"""Reading audit log files (plain, gzip, stdin) into records, counting what is bad.

A file is checked for readability before anything is read (a missing or unreadable file is an
:class:`~exectrail.errors.InputError`); damage found while reading (garbage lines, a truncated gzip
stream, a file that holds no audit records at all) becomes diagnostics and file problems, and every
good record before and after it is still yielded.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from exectrail.errors import InputError
from exectrail.model import Diagnostics, Record
from exectrail.parse.record import MalformedRecord, parse_block

DEFAULT_LOG = Path("/var/log/audit/audit.log")
STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
NEWLINE = b"\n"
BLOCK_SIZE = 1 << 20  # bytes read at a time; records are parsed a block of lines at a time

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


class TruncatedStream(Exception):
    """A compressed stream that ends before its end marker (a file cut short)."""


class _GzipReader:
    """Decompresses gzip (several members too) chunk by chunk, keeping every byte it could
    decompress when the stream is cut short or damaged -- :mod:`gzip` would drop the last chunk."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=31)
        self._done = False

    def read(self, size: int) -> bytes:
        while not self._done:
            compressed = self._raw.read(size // 4 or 1)
            if not compressed:
                self._done = True
                if not self._inflate.eof:
                    tail = self._inflate.flush()
                    if tail:
                        return tail
                    raise TruncatedStream("compressed stream ends before its end marker")
                return b""
            try:
                data = self._inflate.decompress(compressed)
                while self._inflate.eof and self._inflate.unused_data:
                    rest = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(wbits=31)
                    data += self._inflate.decompress(rest)
            except zlib.error as exc:
                self._done = True
                raise TruncatedStream(f"damaged compressed data: {exc}") from None
            if data:
                return data
        return b""


def _open_stream(raw: BinaryIO) -> tuple[Callable[[int], bytes], Callable[[], int]]:
    """A ``read(size)`` for ``raw`` (gunzipping when it starts with the gzip magic) and a position getter."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return _GzipReader(buffered).read, buffered.tell
    return buffered.read, buffered.tell


def _read_stream(
    raw: BinaryIO,
    name: str,
    diagnostics: Diagnostics,
    stats: ReadStats,
    progress: ProgressCallback | None,
) -> Iterator[list[Record]]:
    read, position = _open_stream(raw)
    lines = records = 0
    last_pos = 0

    def bad_line(index: int, line: bytes, error: MalformedRecord) -> None:
        diagnostics.add(error.kind, error.reason, f"{name}:{lines + index + 1}")

    problem = None
    try:
        rest = b""
        while True:
            try:
                chunk = read(BLOCK_SIZE)
            except TruncatedStream as exc:
                problem = f"{exc} after line {lines + rest.count(NEWLINE)}"
                chunk = b""
            if not chunk:
                block, rest = rest, b""
                if block and not block.endswith(b"\n"):
                    block += b"\n"  # a last line without its newline (a file cut short)
            else:
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    rest += chunk
                    continue
                block, rest = rest + chunk[: cut + 1], chunk[cut + 1 :]
            if not block:
                break
            found = parse_block(block, bad_line)
            lines += block.count(b"\n")
            if found:
                records += len(found)
                yield found
            if progress is not None:
                pos = position()
                progress(pos - last_pos)
                last_pos = pos
    except OSError as exc:
        stats.problems.append(f"{name}: read error after line {lines}: {exc.strerror or exc}")
    finally:
        stats.lines += lines
        stats.records += records
        if progress is not None:
            with contextlib.suppress(OSError, ValueError):
                progress(max(position() - last_pos, 0))
    if problem is not None:
        diagnostics.add("truncated-file", problem, f"{name}:{lines}")
        stats.problems.append(f"{name}: truncated compressed file: {problem}")
    if lines and not records:
        stats.problems.append(f"{name}: not an audit log ({lines} lines, none is an audit record)")
