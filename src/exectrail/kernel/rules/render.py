"""Rules as text: auditctl ``-l`` syntax (for any kernel rule) and rules.d files.

The rendering follows what auditctl 3.x prints, so that ``exectrail rules show`` can be compared
with ``auditctl -l`` line by line: arch then syscalls first, other fields in kernel order, numbers
as signed decimals, ``a0``–``a3`` in hex, keys as one ``-F key=`` per key, watches as ``-w``.
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections.abc import Iterable

from exectrail.audit_tables.arches import ARCH_64BIT, BY_AUDIT_ARCH, KNOWN_AUDIT_ARCHES, Arch, native_arches
from exectrail.kernel.rules import rule as m
from exectrail.kernel.rules.rule import Rule, RuleField
from exectrail.parse.types import RECORD_TYPES

# AUDIT_COMPARE_* values: (left field, right field)
COMPARISONS: dict[int, tuple[str, str]] = {
    1: ("uid", "obj_uid"), 2: ("gid", "obj_gid"), 3: ("euid", "obj_uid"), 4: ("egid", "obj_gid"),
    5: ("auid", "obj_uid"), 6: ("suid", "obj_uid"), 7: ("sgid", "obj_gid"), 8: ("fsuid", "obj_uid"),
    9: ("fsgid", "obj_gid"), 10: ("uid", "auid"), 11: ("uid", "euid"), 12: ("uid", "fsuid"),
    13: ("uid", "suid"), 14: ("auid", "fsuid"), 15: ("auid", "suid"), 16: ("auid", "euid"),
    17: ("euid", "suid"), 18: ("euid", "fsuid"), 19: ("suid", "fsuid"), 20: ("gid", "egid"),
    21: ("gid", "fsgid"), 22: ("gid", "sgid"), 23: ("egid", "fsgid"), 24: ("egid", "sgid"),
    25: ("sgid", "fsgid"),
}  # fmt: skip
FSTYPES = {0x64626720: "debugfs", 0x74726163: "tracefs"}
WATCH_FIELDS = frozenset({m.PERM, m.FILTERKEY, m.DIR, m.WATCH})


def _signed(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def is_watch(rule: Rule) -> bool:
    """A ``-w`` watch: only path/dir/perm/key fields, a perm field and every syscall."""
    if any(f.field not in WATCH_FIELDS for f in rule.fields):
        return False
    has_perm = any(f.field == m.PERM for f in rule.fields)
    return has_perm and (rule.filter in m.NO_SYSCALL_FILTERS or rule.all_syscalls)


def _syscall_arch(rule: Rule) -> Arch | None:
    value = rule.arch
    if value is None:
        return native_arches()[0] if _native_ok() else None
    return BY_AUDIT_ARCH.get(value)


def _native_ok() -> bool:
    try:
        native_arches()
    except Exception:
        return False
    return True


def _syscalls_text(rule: Rule) -> str:
    if rule.filter in m.NO_SYSCALL_FILTERS:
        return ""
    if rule.all_syscalls:
        return " -S all"
    arch = _syscall_arch(rule)
    names = []
    for nr in sorted(rule.syscalls):
        name = arch.syscall_name(nr) if arch else None
        names.append(name or str(nr))
    return f" -S {','.join(names)}" if names else ""


def _arch_text(f: RuleField) -> str:
    value = int(f.value) if isinstance(f.value, int) else 0
    if value not in KNOWN_AUDIT_ARCHES:
        return f" -F arch{f.symbol}0x{value:X}"
    return f" -F arch{f.symbol}{'b64' if value & ARCH_64BIT else 'b32'}"


def _perm_text(value: int) -> str:
    return "".join(c for c, bit in (("r", 4), ("w", 2), ("x", 1), ("a", 8)) if value & bit)


def _field_text(f: RuleField, watch: bool) -> str:
    name, op, value = f.name, f.symbol, f.value
    if f.field not in m.FIELD_NAMES:
        raw = len(value) if isinstance(value, bytes) else _signed(value)
        return f" f{f.field}{op}{raw}"
    if isinstance(value, bytes):
        text = os.fsdecode(value)
        if f.field in (m.WATCH, m.DIR) and watch:
            return f"-w {text}"
        if f.field == m.FILTERKEY:
            flag = " -k " if watch else " -F key="
            return "".join(flag + os.fsdecode(k) for k in value.split(m.KEY_SEPARATOR) if k)
        return f" -F {name}{op}{text}"
    if f.field == m.MSGTYPE:
        return f" -F {name}{op}{RECORD_TYPES.get(value, str(_signed(value)))}"
    if f.field == m.PERM:
        return f" -p {_perm_text(value)}" if watch else f" -F perm={_perm_text(value)}"
    if f.field == m.INODE:
        return f" -F {name}{op}{value}"
    if f.field == m.FIELD_COMPARE:
        left, right = COMPARISONS.get(value, ("?", "?"))
        return f" -C {left}{op}{right}" if value in COMPARISONS else ""
    if m.ARG0 <= f.field <= m.ARG3:
        return f" -F {name}{op}0x{value:X}"
    if f.field == m.EXIT:
        code = _signed(value)
        errname = errno_mod.errorcode.get(-code) if code < 0 else None
        return f" -F {name}{op}-{errname}" if errname else f" -F {name}{op}{code}"
    if f.field == m.FSTYPE:
        return f" -F {name}{op}{FSTYPES.get(value, str(_signed(value)))}"
    return f" -F {name}{op}{_signed(value)}"


def to_auditctl(rule: Rule) -> str:
    """One rule in ``auditctl -l`` syntax (also valid input for ``auditctl`` and rules.d files)."""
    watch = is_watch(rule)
    out = []
    if not watch:
        flag = "-A" if rule.prepend else "-a"
        action = m.ACTION_NAMES.get(rule.action, str(rule.action))
        out.append(f"{flag} {action},{m.FILTER_NAMES.get(rule.filter, str(rule.filter))}")
        out.extend(_arch_text(f) for f in rule.fields if f.field == m.ARCH)
        out.append(_syscalls_text(rule))
    out.extend(_field_text(f, watch) for f in rule.fields if f.field != m.ARCH)
    return "".join(out)


def rules_listing(rules: Iterable[Rule]) -> str:
    """All rules, one per line, or ``No rules`` as auditctl says."""
    lines = [to_auditctl(r) for r in rules]
    return "\n".join(lines) if lines else "No rules"


def rules_file(rules: Iterable[Rule], header: Iterable[str] = ()) -> str:
    """A rules.d file: comment header, then one rule per line (loadable by ``auditctl -R``)."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines.extend(to_auditctl(r) for r in rules)
    return "\n".join(lines) + "\n"
