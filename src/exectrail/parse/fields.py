"""Splitting a record body into fields and decoding the kernel's value encodings.

The kernel writes untrusted strings (argv, comm, exe, cwd, path names, keys) either quoted --
only when every byte is 0x21..0x7e and none is ``"`` -- or as uppercase hex of the raw bytes.
So a quoted value never holds a space or a quote, and the field grammar is simple:
``name=value`` separated by spaces, where a value is ``"…"``, ``'…'`` (user-space messages, which
may hold spaces) or a run of non-space bytes. Values that contain ``=`` or look like other fields
(``a1="key=procmon"``) stay inside their quotes.
"""

from __future__ import annotations

import re
from binascii import Error as HexError
from binascii import unhexlify

_FIELD_RE = re.compile(rb"([^\s=]+)=('[^']*'|\"[^\"]*\"|\S*)")

NULL = b"(null)"


def split_fields(body: bytes) -> dict[bytes, bytes]:
    """All ``name=value`` pairs of a raw record body; later duplicates win, values stay encoded."""
    return dict(_FIELD_RE.findall(body))


def field_pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(name, value)`` pairs in order, duplicates kept (EXECVE needs the order)."""
    return _FIELD_RE.findall(body)


class BadValue(ValueError):
    """A field value that cannot be decoded; ``reason`` says why, in the user's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def shown(value: bytes, limit: int = 40) -> str:
    """``value`` for a message: printable ASCII as it is, anything else as ``\\xNN``, cut at ``limit``."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in value[:limit])
    return text + "…" if len(value) > limit else text


def decode_value(value: bytes) -> bytes | None:
    """Decode a quoted-or-hex value to its raw bytes; ``(null)`` is None.

    A value that is neither quoted nor well-formed hex (a damaged or hand-written line) raises
    :class:`BadValue`: it is never passed on as if it were the bytes it claims to encode.
    """
    if len(value) >= 2 and value[0] == 0x22 and value[-1] == 0x22:
        return value[1:-1]
    if value == NULL:
        return None
    try:
        return unhexlify(value)  # strict: an even number of hex digits, nothing else
    except HexError:
        raise BadValue(f"{shown(value)} is neither quoted text nor hex") from None


def unquoted(value: bytes) -> bytes:
    """A plain value (a number, ``yes``, a tty name) with the quotes some tools put around it removed."""
    if len(value) >= 2 and value[0] == 0x22 and value[-1] == 0x22:
        return value[1:-1]
    return value


_INT_RE = re.compile(rb"-?[0-9]{1,20}")


def decode_int(value: bytes, low: int, high: int) -> int:
    """A decimal number (quoted or not) within ``low..high``; else :class:`BadValue`."""
    raw = unquoted(value)
    if _INT_RE.fullmatch(raw) is None:
        raise BadValue(f"{shown(value)} is not a number")
    number = int(raw)
    if not low <= number <= high:
        raise BadValue(f"{shown(value)} is out of range ({low}..{high})")
    return number


def loose_text(value: bytes | None) -> str | None:
    """Like :func:`decode_text`, but a value that is not encoded (a plain word such as ``op=set``
    in a user-space or configuration record) comes back as it stands instead of raising."""
    if value is None:
        return None
    try:
        raw = decode_value(value)
    except BadValue:
        raw = value
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def decode_text(value: bytes | None) -> str | None:
    """Decode an encoded value to ``str``, keeping non-UTF-8 bytes via ``surrogateescape``; raise
    :class:`BadValue` for a value that is neither quoted nor hex."""
    if value is None:
        return None
    raw = decode_value(value)
    if raw is None:
        return None
    return raw.decode("utf-8", "surrogateescape")


def decode_proctitle(value: bytes | None) -> str | None:
    """PROCTITLE is NUL-separated argv (hex or quoted), truncated by the kernel; NULs become spaces.
    Raises :class:`BadValue` as :func:`decode_value` does."""
    if value is None:
        return None
    raw = decode_value(value)
    if raw is None:
        return None
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "surrogateescape")


def encode_value(raw: bytes) -> bytes:
    """Encode bytes the way the kernel does (``audit_log_n_untrustedstring``): quoted or hex."""
    if raw and all(0x21 <= b <= 0x7E and b != 0x22 for b in raw):
        return b'"' + raw + b'"'
    if not raw:
        return b'""'
    return raw.hex().upper().encode("ascii")
