"""The RELP wire format (librelp doc/relp.md): ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``.

TXNR and DATALEN are 1–9 digits, COMMAND 1–32 ASCII letters; DATA (present only when DATALEN > 0)
is exactly DATALEN octets, and the frame ends with LF. :class:`FrameReader` takes bytes as they
arrive and yields whole frames; anything else raises :class:`FrameError` with a one-line reason
(the sink turns it into a :class:`~exectrail.sinks.base.SinkError`). An ``rsp`` carries
``STATUS SP TEXT [LF OFFERS]``: :func:`parse_rsp` splits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TXNR = 999_999_999
MAX_DIGITS = 9
MAX_COMMAND = 32
_HEADER = re.compile(rb"([0-9]{1,9}) ([A-Za-z]{1,32}) ([0-9]{1,9})")
_STATUS = re.compile(rb"([0-9]{3})(?: |\Z)")


class FrameError(ValueError):
    """Bytes that are not a RELP frame, or a frame larger than allowed (``str()`` says why)."""


@dataclass(frozen=True)
class Frame:
    txnr: int
    command: str
    data: bytes = b""


def encode(txnr: int, command: str, data: bytes = b"") -> bytes:
    """One frame's bytes; ValueError for a txnr, command or length outside the protocol."""
    if not 0 <= txnr <= MAX_TXNR:
        raise ValueError(f"txnr {txnr} outside 0..{MAX_TXNR}")
    if not (command.isascii() and command.isalpha() and len(command) <= MAX_COMMAND):
        raise ValueError(f"bad RELP command {command!r}")
    if len(data) > MAX_TXNR:
        raise ValueError(f"{len(data)} bytes of data do not fit a 9-digit DATALEN")
    if not data:
        return b"%d %s 0\n" % (txnr, command.encode())
    return b"%d %s %d %s\n" % (txnr, command.encode(), len(data), data)


def _show(data: bytes | bytearray) -> str:
    """At most 40 bytes of ``data``, escaped, for an error message."""
    return repr(bytes(data[:40])) + ("…" if len(data) > 40 else "")


class FrameReader:
    """Incremental parser: :meth:`feed` bytes, :meth:`next` the next whole frame (None: need more).

    ``max_data`` bounds DATALEN: a peer announcing more is refused before its data is read.
    """

    def __init__(self, max_data: int) -> None:
        self.max_data = max_data
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next(self) -> Frame | None:
        buf = self._buf
        header_end = self._header_end()
        if header_end < 0:
            return None
        m = _HEADER.fullmatch(buf, 0, header_end)
        if m is None:
            raise FrameError(f"malformed RELP frame header {_show(buf[: header_end + 1])}")
        txnr, command, datalen = int(m[1]), m[2].decode(), int(m[3])
        if datalen > self.max_data:
            raise FrameError(f"RELP {command} frame announces {datalen} bytes (at most {self.max_data})")
        if datalen == 0:
            if buf[header_end : header_end + 1] != b"\n":
                raise FrameError(f"RELP frame with DATALEN 0 not ended by LF: {_show(buf)}")
            del buf[: header_end + 1]
            return Frame(txnr, command)
        if buf[header_end : header_end + 1] != b" ":
            raise FrameError(f"RELP frame without a space before its data: {_show(buf)}")
        start = header_end + 1
        end = start + datalen
        if len(buf) <= end:
            return None
        if buf[end] != 0x0A:
            raise FrameError(f"RELP {command} frame not ended by LF after {datalen} bytes of data")
        data = bytes(buf[start:end])
        del buf[: end + 1]
        return Frame(txnr, command, data)

    def _header_end(self) -> int:
        """Index of the separator after DATALEN (SP or LF), -1 when more bytes are needed."""
        buf = self._buf
        limit = 2 * MAX_DIGITS + MAX_COMMAND + 3  # the longest valid header plus its separator
        spaces = 0
        for i in range(min(len(buf), limit)):
            byte = buf[i]
            if byte == 0x20:
                spaces += 1
                if spaces == 3:
                    return i
            elif byte == 0x0A:
                if spaces == 2:
                    return i
                raise FrameError(f"malformed RELP frame header {_show(buf[: i + 1])}")
        if len(buf) >= limit:
            raise FrameError(f"malformed RELP frame header {_show(buf)}")
        # a header still arriving must be a prefix of a valid one: catch garbage without waiting
        partial = bytes(buf)
        if partial and not re.fullmatch(rb"[0-9]{1,9}( ([A-Za-z]{1,32}( [0-9]{0,9})?)?)?", partial):
            raise FrameError(f"malformed RELP frame header {_show(partial)}")
        return -1


def parse_rsp(data: bytes) -> tuple[int, str, bytes]:
    """``(status, text, offers)`` of an rsp's DATA; FrameError when it does not start with 3 digits."""
    head, _, offers = data.partition(b"\n")
    m = _STATUS.match(head)
    if m is None:
        raise FrameError(f"RELP rsp without a status code: {_show(data)}")
    text = head[m.end() :].decode("utf-8", "replace")
    return int(m[1]), "".join(ch if ch.isprintable() else "?" for ch in text)[:200], offers


def parse_offers(offers: bytes) -> dict[str, list[str]]:
    """``name=value[,value…]`` lines → name → values (an offer without ``=`` has no values)."""
    out: dict[str, list[str]] = {}
    for line in offers.decode("utf-8", "replace").splitlines():
        if not line:
            continue
        name, _, values = line.partition("=")
        out[name.strip()] = [v.strip() for v in values.split(",")] if values else []
    return out


__all__ = ["MAX_TXNR", "Frame", "FrameError", "FrameReader", "encode", "parse_offers", "parse_rsp"]
