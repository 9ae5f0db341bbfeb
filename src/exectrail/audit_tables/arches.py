"""Audit architectures: ``AUDIT_ARCH_*`` values, exec syscall numbers and syscall name tables.

One table serves the log parser (``arch=c000003e`` → ``x86_64``, syscall 59 → ``execve``) and the
rule encoder/renderer (``-F arch=b64``, syscall names ↔ numbers), as go-libaudit's ``zaudit_*``
tables serve both its parser and its rule code. To add an arch, add one :class:`Arch` line to
:data:`ALL` (and, for rules, its name table in :mod:`exectrail.audit_tables.syscalls`). The rules'
view: :data:`RULE_ARCHES` (the arches exectrail writes rules for), :data:`KNOWN_AUDIT_ARCHES` and
:func:`native_arches` (this machine's pair).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache

from exectrail.audit_tables import syscalls
from exectrail.errors import UsageError

ARCH_64BIT = 0x80000000  # __AUDIT_ARCH_64BIT


@dataclass(frozen=True, slots=True)
class Arch:
    """One audit architecture: its ``AUDIT_ARCH_*`` value and exec syscall numbers.

    ``rules`` is True for the arches whose full syscall name table exectrail carries (the ones its
    rules are written for); ``auditctl`` is True when auditctl knows the value by machine (it then
    prints ``b64``/``b32`` for it)."""

    name: str
    audit_arch: int
    execve: int
    execveat: int
    rules: bool = False
    auditctl: bool = True

    @property
    def code(self) -> str:
        """The value as the kernel logs it: ``c000003e`` (lower-case hex, no leading zeros)."""
        return f"{self.audit_arch:x}"

    @property
    def bits(self) -> str:
        """``b64`` or ``b32``, as auditctl writes ``-F arch=``."""
        return "b64" if self.audit_arch & ARCH_64BIT else "b32"

    def syscall_name(self, number: int) -> str | None:
        table = syscall_names(self.name)
        return table[number] if 0 <= number < len(table) else None

    def syscall_number(self, name: str) -> int:
        """Number of a syscall by name (or a decimal number); :class:`UsageError` if unknown."""
        if name.isdigit():
            return int(name)
        number = _numbers(self.name).get(name)
        if number is None:
            raise UsageError(f"unknown syscall {name!r} on {self.name}")
        return number


#: Every arch exectrail knows, parser and rules alike.
ALL: tuple[Arch, ...] = (
    Arch("x86_64", 0xC000003E, 59, 322, rules=True),
    Arch("i386", 0x40000003, 11, 358, rules=True),
    Arch("aarch64", 0xC00000B7, 221, 281, rules=True),
    Arch("arm", 0x40000028, 11, 387, rules=True),
    Arch("armeb", 0xC0000028, 11, 387, auditctl=False),
    Arch("s390x", 0x80000016, 11, 354),
    Arch("s390", 0x00000016, 11, 354),
    Arch("ppc64le", 0xC0000015, 11, 362),
    Arch("ppc64", 0x80000015, 11, 362),
    Arch("ppc", 0x00000014, 11, 362),
    Arch("riscv64", 0xC00000F3, 221, 281, auditctl=False),
)
BY_NAME: dict[str, Arch] = {a.name: a for a in ALL}
BY_CODE: dict[str, Arch] = {a.code: a for a in ALL}

# The 64-bit arch of a machine and its 32-bit compat arch (the procmon preset covers both).
NATIVE: dict[str, tuple[str, str]] = {"x86_64": ("x86_64", "i386"), "aarch64": ("aarch64", "arm")}

#: The arches exectrail writes rules for (it carries their syscall name tables).
RULE_ARCHES: dict[str, Arch] = {a.name: a for a in ALL if a.rules}
BY_AUDIT_ARCH: dict[int, Arch] = {a.audit_arch: a for a in RULE_ARCHES.values()}

# Other AUDIT_ARCH values auditctl knows by machine (it prints them as b64/b32 too).
KNOWN_AUDIT_ARCHES = frozenset(BY_AUDIT_ARCH) | {a.audit_arch for a in ALL if a.auditctl}


def native_arches(machine: str | None = None) -> tuple[Arch, Arch]:
    """(64-bit arch, compat 32-bit arch) of this machine; :class:`UsageError` elsewhere."""
    machine = machine or platform.machine()
    names = NATIVE.get(machine)
    if names is None:
        raise UsageError(f"unsupported machine {machine!r} (exectrail knows x86_64 and aarch64)")
    return RULE_ARCHES[names[0]], RULE_ARCHES[names[1]]


@cache
def syscall_names(name: str) -> tuple[str | None, ...]:
    """The syscall names of arch ``name`` indexed by number (None for a gap); empty when exectrail
    carries no table for it."""
    text: str = getattr(syscalls, name.upper(), "")
    names: list[str | None] = [None if n == "-" else n for n in text.split()]
    if name == "arm":
        names.extend([None] * (387 - len(names)))
        names.append("execveat")
    return tuple(names)


@cache
def _numbers(name: str) -> dict[str, int]:
    return {n: i for i, n in enumerate(syscall_names(name)) if n is not None}
