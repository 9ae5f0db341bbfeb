"""NETLINK_AUDIT wire formats: declarative structs with pack/unpack, and message framing.

Each struct is a frozen dataclass whose fields carry their ``struct`` format in metadata; the
layout (native byte order, no padding, as the kernel uses) is derived from the declaration, so the
definition *is* the documentation. Golden-byte tests live in ``tests/unit/test_netlink_wire.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1

# nlmsghdr types and flags
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300

# audit control message types
AUDIT_GET, AUDIT_SET = 1000, 1001
AUDIT_ADD_RULE, AUDIT_DEL_RULE, AUDIT_LIST_RULES = 1011, 1012, 1013
AUDIT_REPLACE = 1329

# audit_status.mask bits
STATUS_ENABLED = 0x0001
STATUS_FAILURE = 0x0002
STATUS_PID = 0x0004
STATUS_RATE_LIMIT = 0x0008
STATUS_BACKLOG_LIMIT = 0x0010
STATUS_BACKLOG_WAIT_TIME = 0x0020
STATUS_LOST = 0x0040

AUDIT_BITMASK_SIZE = 64
AUDIT_MAX_FIELDS = 64

NLMSG_HDRLEN = 16


def _u32(default: int = 0) -> Any:
    return field(default=default, metadata={"fmt": "I"})


def _i32(default: int = 0) -> Any:
    return field(default=default, metadata={"fmt": "i"})


def _u16(default: int = 0) -> Any:
    return field(default=default, metadata={"fmt": "H"})


def _u32_array(count: int) -> Any:
    return field(default=(0,) * count, metadata={"fmt": f"{count}I", "count": count})


class WireStruct:
    """Mixin: pack/unpack a dataclass from its fields' ``fmt`` metadata (native order, packed)."""

    __slots__ = ()
    #: fewer bytes are accepted by :meth:`unpack` (missing trailing fields read as zero)
    tolerate_short: ClassVar[bool] = False

    @classmethod
    def layout(cls) -> struct.Struct:
        cached = _LAYOUTS.get(cls)
        if cached is None:
            fmt = "=" + "".join(f.metadata["fmt"] for f in fields(cls))  # type: ignore[arg-type]
            cached = _LAYOUTS[cls] = struct.Struct(fmt)
        return cached

    @classmethod
    def size(cls) -> int:
        return cls.layout().size

    def pack(self) -> bytes:
        values: list[int] = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if "count" in f.metadata:
                if len(value) != f.metadata["count"]:
                    raise ValueError(f"{f.name}: needs {f.metadata['count']} items, got {len(value)}")
                values.extend(value)
            else:
                values.append(value)
        return self.layout().pack(*values)

    @classmethod
    def unpack(cls, data: bytes | memoryview, offset: int = 0) -> Self:
        layout = cls.layout()
        chunk = bytes(data[offset : offset + layout.size])
        if len(chunk) < layout.size:
            if not cls.tolerate_short:
                raise ValueError(f"{cls.__name__}: needs {layout.size} bytes, got {len(chunk)}")
            chunk = chunk.ljust(layout.size, b"\0")
        flat = layout.unpack(chunk)
        kwargs: dict[str, Any] = {}
        pos = 0
        for f in fields(cls):  # type: ignore[arg-type]
            count = f.metadata.get("count")
            if count is None:
                kwargs[f.name] = flat[pos]
                pos += 1
            else:
                kwargs[f.name] = tuple(flat[pos : pos + count])
                pos += count
        return cls(**kwargs)


_LAYOUTS: dict[type, struct.Struct] = {}


@dataclass(frozen=True, slots=True)
class NlMsgHdr(WireStruct):
    """``struct nlmsghdr`` (16 bytes)."""

    length: int = _u32()
    type: int = _u16()
    flags: int = _u16()
    seq: int = _u32()
    pid: int = _u32()


@dataclass(frozen=True, slots=True)
class NlMsgErr(WireStruct):
    """``struct nlmsgerr`` head: a negative errno (0 for an ACK), then the request's header."""

    error: int = _i32()
    msg_length: int = _u32()
    msg_type: int = _u16()
    msg_flags: int = _u16()
    msg_seq: int = _u32()
    msg_pid: int = _u32()


@dataclass(frozen=True, slots=True)
class AuditStatus(WireStruct):
    """``struct audit_status`` (44 bytes on current kernels; older ones send fewer fields)."""

    tolerate_short: ClassVar[bool] = True

    mask: int = _u32()
    enabled: int = _u32()
    failure: int = _u32()
    pid: int = _u32()
    rate_limit: int = _u32()
    backlog_limit: int = _u32()
    lost: int = _u32()
    backlog: int = _u32()
    feature_bitmap: int = _u32()
    backlog_wait_time: int = _u32()
    backlog_wait_time_actual: int = _u32()


@dataclass(frozen=True, slots=True)
class AuditRuleHeader(WireStruct):
    """The fixed 1040-byte head of ``struct audit_rule_data``; ``buflen`` string bytes follow."""

    flags: int = _u32()
    action: int = _u32()
    field_count: int = _u32()
    mask: tuple[int, ...] = _u32_array(AUDIT_BITMASK_SIZE)
    fields: tuple[int, ...] = _u32_array(AUDIT_MAX_FIELDS)
    values: tuple[int, ...] = _u32_array(AUDIT_MAX_FIELDS)
    fieldflags: tuple[int, ...] = _u32_array(AUDIT_MAX_FIELDS)
    buflen: int = _u32()


@dataclass(frozen=True, slots=True)
class AuditRuleData:
    """``struct audit_rule_data``: the header plus its string buffer."""

    header: AuditRuleHeader
    buf: bytes = b""

    def pack(self) -> bytes:
        if self.header.buflen != len(self.buf):
            raise ValueError(f"buflen {self.header.buflen} != len(buf) {len(self.buf)}")
        return self.header.pack() + self.buf

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> AuditRuleData:
        header = AuditRuleHeader.unpack(data)
        start = AuditRuleHeader.size()
        buf = bytes(data[start : start + header.buflen])
        if len(buf) != header.buflen:
            raise ValueError(f"audit_rule_data: buflen {header.buflen} but {len(buf)} bytes follow")
        return cls(header, buf)


def nlmsg_align(n: int) -> int:
    return (n + 3) & ~3


def encode_message(msg_type: int, flags: int, seq: int, payload: bytes = b"", pid: int = 0) -> bytes:
    """One netlink message: header (``nlmsg_len`` includes it), payload, padding to 4 bytes."""
    header = NlMsgHdr(NLMSG_HDRLEN + len(payload), msg_type, flags, seq, pid).pack()
    pad = nlmsg_align(len(payload)) - len(payload)
    return header + payload + b"\0" * pad


def iter_messages(datagram: bytes) -> Iterator[tuple[NlMsgHdr, bytes]]:
    """Split a reply datagram into (header, payload); a bad length takes the rest of the datagram."""
    offset = 0
    while offset + NLMSG_HDRLEN <= len(datagram):
        header = NlMsgHdr.unpack(datagram, offset)
        end = offset + header.length
        if header.length < NLMSG_HDRLEN or end > len(datagram):
            end = len(datagram)
        yield header, datagram[offset + NLMSG_HDRLEN : end]
        offset = nlmsg_align(end)


def decode_record(datagram: bytes) -> tuple[int, bytes]:
    """``(msg_type, payload)`` of an audit record datagram (one record per datagram).

    Unicast records carry an ``nlmsg_len`` that leaves out the 16-byte header, multicast ones
    count it: the datagram length is the only reliable bound. Trailing NULs are dropped.
    """
    if len(datagram) < NLMSG_HDRLEN:
        raise ValueError(f"netlink datagram of {len(datagram)} bytes")
    (msg_type,) = _TYPE.unpack_from(datagram, 4)
    return int(msg_type), datagram[NLMSG_HDRLEN:].rstrip(b"\0")


_TYPE = struct.Struct("=H")
