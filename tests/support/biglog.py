"""Large audit logs made of real captured events: the committed logs repeated with shifted serials.

Each copy adds ``copy * SHIFT`` to every serial (``msg=audit(SEC.MS:SERIAL)``), so every event keeps
its real records and argv but gets a new identity; timestamps stay as captured unless ``spread_s``
moves each copy on in time.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from tests.support.paths import DATA

SOURCES = ("interleaved_concurrent.log", "workload_enriched.log")
SHIFT = 10_000_000
_HEADER = re.compile(rb"(msg=audit\()(\d+)(\.\d+:)(\d+)\)")


def source_lines(names: tuple[str, ...] = SOURCES) -> list[bytes]:
    lines: list[bytes] = []
    for name in names:
        path = DATA / name
        data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        lines.extend(data.splitlines(keepends=True))
    return lines


def write_big_log(path: Path, min_lines: int, names: tuple[str, ...] = SOURCES, spread_s: int = 0) -> int:
    """Write at least ``min_lines`` lines of shifted copies; return the number of lines written.
    ``spread_s``: each copy also ``spread_s`` seconds after the one before (as a host running the
    workload again and again; without it every copy happens at the captured moment)."""
    lines = source_lines(names)
    written = copy = 0
    with open(path, "wb") as out:
        while written < min_lines:
            offset, seconds = copy * SHIFT, copy * spread_s

            def shift(m: re.Match[bytes], offset: int = offset, seconds: int = seconds) -> bytes:
                return b"%s%d%s%d)" % (
                    m.group(1),
                    int(m.group(2)) + seconds,
                    m.group(3),
                    int(m.group(4)) + offset,
                )

            out.write(b"".join(_HEADER.sub(shift, line, count=1) for line in lines))
            written += len(lines)
            copy += 1
    return written
