"""The line splitter against the plain split, for any bytes and any read sizes (small bounds)."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.parse import logfile
from exectrail.parse.gunzip import GzipReader
from tests.support.paths import DATA

BLOCK = 16  # the splitter's read size in these tests (and so its line bound)


def expected(data: bytes) -> list[bytes | int]:
    """Per line: the line with its newline, or the length of a line over the bound."""
    pieces = data.split(b"\n")
    last = pieces.pop()
    out: list[bytes | int] = [p + b"\n" if len(p) <= BLOCK else len(p) for p in pieces]
    if last:
        out.append(last + b"\n" if len(last) <= BLOCK else len(last))
    return out


def split(data: bytes, sizes: list[int]) -> list[bytes | int]:
    """What LineBlocks gives, one line per item, when each read returns a chosen size (<= asked)."""
    stream = io.BytesIO(data)
    choice = iter(sizes)

    def read(size: int) -> bytes:
        return stream.read(min(size, next(choice, size)))

    out: list[bytes | int] = []
    for block in logfile.LineBlocks(read):
        out.extend([block] if isinstance(block, int) else block.splitlines(keepends=True))
    return out


@pytest.fixture(autouse=True)
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfile, "BLOCK_SIZE", BLOCK)
    monkeypatch.setattr(logfile, "MAX_LINE_BYTES", BLOCK)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"a", b"bb", b"\n", b"\r\n", b"x" * 15, b"y" * 16, b"z" * 17, b"w" * 40]),
        max_size=30,
    ),
    st.lists(st.integers(1, BLOCK), max_size=40),
)
def test_splitter_is_the_plain_split(parts: list[bytes], sizes: list[int]) -> None:
    data = b"".join(parts)
    assert split(data, sizes) == expected(data)


def test_splitter_on_random_bytes() -> None:
    rng = random.Random(3)
    for _ in range(300):
        data = bytes(rng.choice(b"ab\n") if rng.random() < 0.9 else 10 for _ in range(rng.randint(0, 200)))
        sizes = [rng.randint(1, BLOCK) for _ in range(300)]
        assert split(data, sizes) == expected(data)


class Trickle(io.RawIOBase):
    """A pipe that gives at most ``step`` bytes per read (members end at any read boundary)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        piece = self._data[self._at : self._at + n]
        self._at += len(piece)
        return piece


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    st.integers(0, 600),
    st.integers(1, 5000),
    st.integers(1, 40),
)
def test_gzip_reader_gives_every_member_in_bounded_reads(
    members: list[bytes], padding: int, size: int, step: int
) -> None:
    data = b"".join(gzip.compress(m, compresslevel=1) for m in members) + bytes(padding)
    reader = GzipReader(Trickle(data, step))  # type: ignore[arg-type]
    out = b""
    while chunk := reader.read(size):
        assert len(chunk) <= size
        out += chunk
    assert out == b"".join(members)


def test_gzip_reader_bounds_each_read_of_a_bomb() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = bomb.compress(bytes(64 << 20)) + bomb.flush()
    reader = GzipReader(io.BytesIO(data))
    total = 0
    while chunk := reader.read(1 << 20):
        assert len(chunk) <= 1 << 20
        total += len(chunk)
    assert total == 64 << 20


def test_gzip_reader_keeps_the_data_just_before_damage() -> None:
    """The read that meets the damage still gives what came before it (to within a few KB)."""
    log = (DATA / "workload_enriched.log").read_bytes()
    whole = gzip.compress(log * 6, mtime=0)
    at = len(whole) * 2 // 3
    damaged = whole[:at] + bytes(400) + whole[at + 400 :]
    inflate = zlib.decompressobj(wbits=31)  # the most any inflater gives: the intact part at once,
    pieces = [inflate.decompress(damaged[:at])]  # then one byte at a time up to the error
    for index in range(at, len(damaged)):
        try:
            pieces.append(inflate.decompress(damaged[index : index + 1]))
        except zlib.error:
            break
    best = b"".join(pieces)
    reader = GzipReader(io.BytesIO(damaged))
    out = b""
    with pytest.raises(Exception, match="damaged compressed data"):
        while chunk := reader.read(1 << 20):
            out += chunk
    assert out == best[: len(out)]
    assert len(out) >= len(best) - (16 << 10)
    assert reader.read(1 << 20) == b""  # the damage is reported once
