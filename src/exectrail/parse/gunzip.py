"""Streaming gzip for log files: every byte that can be recovered, in bounded memory.

What :mod:`gzip` does not do here: keep the last decompressed chunk of a stream that is cut short
or damaged, and bound how much one read inflates (a "gzip bomb" of zeros inflates 1000-fold).
Like ``zcat``, it reads every member of a multi-member stream and skips zero padding after the
last one; anything else after a member is reported as :class:`GzipDamage`, after every byte
before it has been returned.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
INPUT_SIZE = 1 << 16  # compressed bytes read at a time
SALVAGE_STEP = 256  # compressed bytes fed at a time when replaying up to a damaged spot


class GzipDamage(Exception):
    """A compressed stream that cannot be read to its end; the message says why, in user words."""

    def __init__(self, reason: str, truncated: bool) -> None:
        super().__init__(reason)
        self.truncated = truncated  # cut short (rather than damaged, or followed by garbage)


class GzipReader:
    """``read(size)`` of the decompressed stream: at most ``size`` bytes, b"" at its end.

    After the data that could be read, a damaged, cut or garbage-followed stream raises
    :class:`GzipDamage` once; later reads return b"".
    """

    def __init__(self, raw: BinaryIO, start: bytes = b"") -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = (
            start  # compressed bytes not yet given to the inflater (``start``: read from raw already)
        )
        self._in_member = True
        self._done = False
        self._damage: GzipDamage | None = None  # raised at the next read (after the data before it)

    def read(self, size: int) -> bytes:
        while not self._done:
            if self._damage is not None:
                self._done = True
                raise self._damage
            data = self._member(size) if self._in_member else self._between_members()
            if data:
                return data
        return b""

    def _member(self, size: int) -> bytes:
        if not self._pending:
            self._pending = self._raw.read(INPUT_SIZE)
            if not self._pending:  # the input ends inside a member (all its output already given)
                self._damage = GzipDamage("compressed stream ends before its end marker", truncated=True)
                return b""
        saved = self._inflate.copy()
        try:
            data = self._inflate.decompress(self._pending, size)
        except zlib.error:
            data = self._salvage(saved, size)
            self._damage = GzipDamage("damaged compressed data", truncated=False)
            return data
        if self._inflate.eof:
            self._pending, self._in_member = self._inflate.unused_data, False
        else:
            self._pending = self._inflate.unconsumed_tail
        return data

    def _salvage(self, inflate: zlib._Decompress, size: int) -> bytes:
        """What ``inflate`` gives from the pending input up to the damaged spot (a few bytes at a time).

        The call that failed stopped at the damage before ``size`` bytes of output, so this replay
        gives less than ``size`` bytes and never reaches the end of the member."""
        out = []
        pending = self._pending
        for start in range(0, len(pending), SALVAGE_STEP):
            try:
                out.append(inflate.decompress(pending[start : start + SALVAGE_STEP], size))
            except zlib.error:
                break
        return b"".join(out)

    def _between_members(self) -> bytes:
        """After a member: zero padding is skipped; a new member starts; anything else is garbage."""
        pending = self._pending.lstrip(b"\0")
        if len(pending) < len(GZIP_MAGIC):
            more = self._raw.read(INPUT_SIZE)
            if more:
                self._pending = pending + more
                return b""
            self._done = not pending
            if pending:
                self._damage = GzipDamage("unreadable data after the end of the compressed stream", False)
            return b""
        if pending.startswith(GZIP_MAGIC):
            self._inflate = zlib.decompressobj(wbits=31)
            self._pending, self._in_member = pending, True
        else:
            self._pending = b""
            self._damage = GzipDamage("unreadable data after the end of the compressed stream", False)
        return b""
