"""An audit rule: one :class:`Rule` converts to and from the kernel's ``audit_rule_data``.

Field numbers, operators, filter lists and actions are those of ``linux/audit.h``. String fields
(paths, keys, LSM labels) live in the rule's buffer; their ``values`` slot holds the length.
"""

from __future__ import annotations

import errno as errno_mod
import grp
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass

from exectrail.errors import UsageError
from exectrail.kernel.netlink.wire import AUDIT_BITMASK_SIZE, AUDIT_MAX_FIELDS, AuditRuleData, AuditRuleHeader
from exectrail.parse.types import RECORD_NUMBERS

# filter lists (rule flags & 0x0f) and the prepend flag
FILTER_USER, FILTER_TASK, FILTER_ENTRY, FILTER_WATCH, FILTER_EXIT = 0, 1, 2, 3, 4
FILTER_EXCLUDE, FILTER_FS, FILTER_URING_EXIT = 5, 6, 7
FILTER_PREPEND = 0x10
FILTER_NAMES = {0: "user", 1: "task", 2: "entry", 4: "exit", 5: "exclude", 6: "filesystem", 7: "io_uring"}
NO_SYSCALL_FILTERS = frozenset({FILTER_USER, FILTER_TASK, FILTER_EXCLUDE, FILTER_FS})

NEVER, POSSIBLE, ALWAYS = 0, 1, 2
ACTION_NAMES = {NEVER: "never", POSSIBLE: "possible", ALWAYS: "always"}

# operators (fieldflags)
OPERATORS = {
    "=": 0x40000000,
    "!=": 0x30000000,
    ">": 0x20000000,
    ">=": 0x60000000,
    "<": 0x10000000,
    "<=": 0x50000000,
    "&": 0x08000000,
    "&=": 0x48000000,
}
OPERATOR_SYMBOLS = {v: k for k, v in OPERATORS.items()}
OPERATOR_BITS = 0x78000000
_PARSE_ORDER = ("!=", ">=", "<=", "&=", "=", ">", "<", "&")  # two-character operators first

# fields
PID, UID, EUID, SUID, FSUID, GID, EGID, SGID, FSGID, LOGINUID = range(10)
ARCH, MSGTYPE, PPID, SESSIONID, FSTYPE = 11, 12, 18, 25, 26
INODE, EXIT, WATCH, PERM, DIR, FIELD_COMPARE, EXE, FILTERKEY = 102, 103, 105, 106, 107, 111, 112, 210
ARG0, ARG3 = 200, 203
FIELD_NAMES: dict[int, str] = {
    0: "pid", 1: "uid", 2: "euid", 3: "suid", 4: "fsuid", 5: "gid", 6: "egid", 7: "sgid", 8: "fsgid",
    9: "auid", 10: "pers", 11: "arch", 12: "msgtype", 13: "subj_user", 14: "subj_role", 15: "subj_type",
    16: "subj_sen", 17: "subj_clr", 18: "ppid", 19: "obj_user", 20: "obj_role", 21: "obj_type",
    22: "obj_lev_low", 23: "obj_lev_high", 25: "sessionid", 26: "fstype", 100: "devmajor",
    101: "devminor", 102: "inode", 103: "exit", 104: "success", 105: "path", 106: "perm", 107: "dir",
    108: "filetype", 109: "obj_uid", 110: "obj_gid", 111: "field_compare", 112: "exe", 113: "saddr_fam",
    200: "a0", 201: "a1", 202: "a2", 203: "a3", 210: "key",
}  # fmt: skip
FIELD_NUMBERS: dict[str, int] = {name: num for num, name in FIELD_NAMES.items()} | {
    "loginuid": LOGINUID,
    "ses": SESSIONID,
}
STRING_FIELDS = frozenset({13, 14, 15, 16, 17, 19, 20, 21, 22, 23, WATCH, DIR, EXE, FILTERKEY})
UID_FIELDS = frozenset({UID, EUID, SUID, FSUID, LOGINUID, 109})
GID_FIELDS = frozenset({GID, EGID, SGID, FSGID, 110})
PERM_BITS = {"r": 4, "w": 2, "x": 1, "a": 8}
KEY_SEPARATOR = b"\x01"
MAX_KEY_LEN = 256
UNSET = 0xFFFFFFFF

ALL_SYSCALLS: tuple[int, ...] = (0xFFFFFFFF,) * AUDIT_BITMASK_SIZE
NO_SYSCALLS: tuple[int, ...] = (0,) * AUDIT_BITMASK_SIZE


def syscall_mask(numbers: Iterable[int]) -> tuple[int, ...]:
    """The 64-word syscall bitmask with the given syscall numbers set."""
    words = list(NO_SYSCALLS)
    for nr in numbers:
        if not 0 <= nr < AUDIT_BITMASK_SIZE * 32:
            raise UsageError(f"syscall number {nr} out of range")
        words[nr // 32] |= 1 << (nr % 32)
    return tuple(words)


@dataclass(frozen=True, slots=True)
class RuleField:
    """``-F name OP value``: ``value`` is a u32 for numeric fields, bytes for string fields."""

    field: int
    op: int
    value: int | bytes

    @property
    def name(self) -> str:
        return FIELD_NAMES.get(self.field, f"f{self.field}")

    @property
    def symbol(self) -> str:
        return OPERATOR_SYMBOLS.get(self.op, f"?{self.op:#x}")


@dataclass(frozen=True, slots=True)
class Rule:
    """One kernel audit rule: filter list, action, syscall mask and fields in kernel order."""

    filter: int
    action: int
    fields: tuple[RuleField, ...] = ()
    mask: tuple[int, ...] = NO_SYSCALLS
    prepend: bool = False

    @property
    def syscalls(self) -> frozenset[int]:
        return frozenset(
            w * 32 + b for w, word in enumerate(self.mask) if word for b in range(32) if word >> b & 1
        )

    @property
    def all_syscalls(self) -> bool:
        """True when the mask covers every syscall (auditctl's ``-S all``; last word not checked)."""
        return all(word == 0xFFFFFFFF for word in self.mask[:-1])

    @property
    def arch(self) -> int | None:
        """The value of an ``arch=`` field, if the rule has one."""
        return next((int(f.value) for f in self.fields if f.field == ARCH and isinstance(f.value, int)), None)

    @property
    def keys(self) -> tuple[str, ...]:
        out: list[str] = []
        for f in self.fields:
            if f.field == FILTERKEY and isinstance(f.value, bytes):
                out.extend(os.fsdecode(k) for k in f.value.split(KEY_SEPARATOR) if k)
        return tuple(out)

    def to_bytes(self) -> bytes:
        """The rule as ``struct audit_rule_data`` for AUDIT_ADD_RULE / AUDIT_DEL_RULE."""
        if len(self.fields) > AUDIT_MAX_FIELDS:
            raise UsageError(f"a rule takes at most {AUDIT_MAX_FIELDS} fields")
        fields, values, flags = [], [], []
        buf = bytearray()
        for f in self.fields:
            fields.append(f.field)
            flags.append(f.op)
            if isinstance(f.value, bytes):
                values.append(len(f.value))
                buf += f.value
            else:
                values.append(f.value & 0xFFFFFFFF)
        pad = [0] * (AUDIT_MAX_FIELDS - len(self.fields))
        header = AuditRuleHeader(
            flags=self.filter | (FILTER_PREPEND if self.prepend else 0),
            action=self.action,
            field_count=len(self.fields),
            mask=self.mask,
            fields=tuple(fields + pad),
            values=tuple(values + pad),
            fieldflags=tuple(flags + pad),
            buflen=len(buf),
        )
        return AuditRuleData(header, bytes(buf)).pack()

    @classmethod
    def from_bytes(cls, data: bytes) -> Rule:
        """Decode a rule as the kernel lists it (AUDIT_LIST_RULES payload)."""
        rd = AuditRuleData.unpack(data)
        h = rd.header
        if h.field_count > AUDIT_MAX_FIELDS:
            raise ValueError(f"audit_rule_data: field_count {h.field_count}")
        out: list[RuleField] = []
        offset = 0
        for i in range(h.field_count):
            number = h.fields[i] & ~OPERATOR_BITS
            op = h.fieldflags[i] & OPERATOR_BITS
            value: int | bytes = h.values[i]
            if number in STRING_FIELDS:
                value = rd.buf[offset : offset + h.values[i]]
                offset += h.values[i]
            out.append(RuleField(number, op, value))
        return cls(h.flags & 0x0F, h.action, tuple(out), h.mask, bool(h.flags & FILTER_PREPEND))


def decode_rules(blobs: Iterable[bytes]) -> list[Rule]:
    """Rules as the kernel lists them (``AuditClient.list_rules``), decoded, in the same order."""
    return [Rule.from_bytes(blob) for blob in blobs]


def parse_field(expr: str) -> RuleField:
    """``auid>=1000``, ``uid=root``, ``exe!=/usr/bin/x`` … (auditctl ``-F`` syntax) as a field."""
    for symbol in _PARSE_ORDER:
        name, sep, raw = expr.partition(symbol)
        if sep:
            break
    else:
        raise UsageError(f"field {expr!r}: no operator (one of {' '.join(OPERATORS)})")
    name = name.strip()
    number = FIELD_NUMBERS.get(name)
    if number is None:
        raise UsageError(f"field {expr!r}: unknown field name {name!r}")
    if not raw:
        raise UsageError(f"field {expr!r}: no value")
    return RuleField(number, OPERATORS[symbol], _parse_value(number, symbol, raw, expr))


def _parse_value(number: int, symbol: str, raw: str, expr: str) -> int | bytes:
    if number in STRING_FIELDS:
        if number == EXE and symbol not in ("=", "!="):
            raise UsageError(f"field {expr!r}: exe takes only = or !=")
        value = os.fsencode(raw)
        if any(c < 0x20 or c == 0x7F for c in value):  # a newline would add a line to a rules file
            raise UsageError(f"field {expr!r}: control characters cannot be written in a rule")
        limit = MAX_KEY_LEN if number == FILTERKEY else 4096
        if len(value) > limit:
            raise UsageError(f"field {expr!r}: longer than {limit} bytes")
        return value
    if number == PERM:
        if symbol != "=" or not raw or any(c not in PERM_BITS for c in raw.lower()):
            raise UsageError(f"field {expr!r}: perm wants = and letters from rwxa")
        return sum({PERM_BITS[c] for c in raw.lower()})
    if number == MSGTYPE and raw in RECORD_NUMBERS:
        return int(RECORD_NUMBERS[raw])
    if number == EXIT and raw.lstrip("-").startswith("E"):
        code: int | None = getattr(errno_mod, raw.lstrip("-"), None)
        if not isinstance(code, int):
            raise UsageError(f"field {expr!r}: unknown errno name")
        return (-code if raw.startswith("-") else code) & UNSET
    try:
        number = int(raw, 0)
    except ValueError:
        pass
    else:  # 32 bits, signed or not (auditctl's range); never silently wrapped
        if not -(2**31) <= number <= UNSET:
            raise UsageError(f"field {expr!r}: {raw!r} is out of range (-2147483648 to {UNSET})")
        return number & UNSET
    if number in UID_FIELDS:
        if raw == "unset":
            return UNSET
        try:
            return pwd.getpwnam(raw).pw_uid
        except KeyError:
            raise UsageError(f"field {expr!r}: unknown user {raw!r}") from None
    if number in GID_FIELDS:
        try:
            return grp.getgrnam(raw).gr_gid
        except KeyError:
            raise UsageError(f"field {expr!r}: unknown group {raw!r}") from None
    raise UsageError(f"field {expr!r}: {raw!r} is not a number")
