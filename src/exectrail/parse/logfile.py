"""Reading audit log files (plain, gzip, stdin) into records, counting what is bad.

A file is checked for readability before anything is read (a missing or unreadable file is an
:class:`~exectrail.errors.InputError`); damage found while reading (garbage lines, a truncated gzip
stream, a file that holds no audit records at all) becomes diagnostics and file problems, and every
good record before and after it is still yielded.
"""

from __future__ import annotations

import contextlib
import gzip
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
from exectrail.parse.record import MalformedRecord, parse_line

DEFAULT_LOG = Path("/var/log/audit/audit.log")
STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_EVERY = 16384  # lines between progress callbacks

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


def _open_stream(raw: BinaryIO) -> tuple[BinaryIO, Callable[[], int]]:
    """Wrap ``raw`` in a gzip reader when it starts with the gzip magic; return a position getter."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), buffered.tell  # type: ignore[return-value]
    return buffered, buffered.tell


def _read_stream(
    raw: BinaryIO,
    name: str,
    diagnostics: Diagnostics,
    stats: ReadStats,
    progress: ProgressCallback | None,
) -> Iterator[Record]:
    stream, position = _open_stream(raw)
    lines = records = 0
    last_pos = 0
    try:
        for line in stream:
            lines += 1
            try:
                record = parse_line(line)
            except MalformedRecord as bad:
                diagnostics.add(bad.kind, bad.reason, f"{name}:{lines}")
                continue
            records += 1
            yield record
            if progress is not None and lines % PROGRESS_EVERY == 0:
                pos = position()
                progress(pos - last_pos)
                last_pos = pos
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        diagnostics.add("truncated-file", f"compressed stream ends early: {exc}", f"{name}:{lines}")
        stats.problems.append(f"{name}: truncated compressed file after line {lines}")
    except OSError as exc:
        stats.problems.append(f"{name}: read error after line {lines}: {exc.strerror or exc}")
    finally:
        stats.lines += lines
        stats.records += records
        if progress is not None:
            with contextlib.suppress(OSError, ValueError):
                progress(max(position() - last_pos, 0))
    if lines and not records:
        stats.problems.append(f"{name}: not an audit log ({lines} lines, none is an audit record)")
