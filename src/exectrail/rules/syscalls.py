"""Audit architectures and syscall number ↔ name lookups."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache

from exectrail.errors import UsageError
from exectrail.rules import syscall_table

ARCH_64BIT = 0x80000000


@dataclass(frozen=True, slots=True)
class Arch:
    """One audit architecture: its ``AUDIT_ARCH_*`` value and exec syscall numbers."""

    name: str
    audit_arch: int
    execve: int
    execveat: int

    @property
    def bits(self) -> str:
        """``b64`` or ``b32``, as auditctl writes ``-F arch=``."""
        return "b64" if self.audit_arch & ARCH_64BIT else "b32"

    def syscall_name(self, number: int) -> str | None:
        table = _table(self.name)
        return table[number] if 0 <= number < len(table) else None

    def syscall_number(self, name: str) -> int:
        """Number of a syscall by name (or a decimal number); :class:`UsageError` if unknown."""
        if name.isdigit():
            return int(name)
        number = _numbers(self.name).get(name)
        if number is None:
            raise UsageError(f"unknown syscall {name!r} on {self.name}")
        return number


ARCHES: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("x86_64", 0xC000003E, 59, 322),
        Arch("i386", 0x40000003, 11, 358),
        Arch("aarch64", 0xC00000B7, 221, 281),
        Arch("arm", 0x40000028, 11, 387),
    )
}
BY_AUDIT_ARCH: dict[int, Arch] = {a.audit_arch: a for a in ARCHES.values()}

# Other AUDIT_ARCH values auditctl knows by machine (it prints them as b64/b32 too).
KNOWN_AUDIT_ARCHES = frozenset(BY_AUDIT_ARCH) | {
    0x00000014,  # ppc
    0x80000015,  # ppc64
    0xC0000015,  # ppc64le
    0x00000016,  # s390
    0x80000016,  # s390x
}

# The 64-bit arch of a machine and its 32-bit compat arch (the procmon preset covers both).
NATIVE: dict[str, tuple[str, str]] = {"x86_64": ("x86_64", "i386"), "aarch64": ("aarch64", "arm")}


def native_arches(machine: str | None = None) -> tuple[Arch, Arch]:
    """(64-bit arch, compat 32-bit arch) of this machine; :class:`UsageError` elsewhere."""
    machine = machine or platform.machine()
    names = NATIVE.get(machine)
    if names is None:
        raise UsageError(f"unsupported machine {machine!r} (exectrail knows x86_64 and aarch64)")
    return ARCHES[names[0]], ARCHES[names[1]]


def arch_for_bits(bits: str, machine: str | None = None) -> Arch:
    """The arch auditctl means by ``b64``/``b32`` (or an arch name) on this machine."""
    if bits in ARCHES:
        return ARCHES[bits]
    wide, compat = native_arches(machine)
    if bits == "b64":
        return wide
    if bits == "b32":
        return compat
    raise UsageError(f"unknown arch {bits!r} (use b64, b32 or one of {', '.join(ARCHES)})")


@cache
def _table(name: str) -> tuple[str | None, ...]:
    text: str = getattr(syscall_table, name.upper())
    names: list[str | None] = [None if n == "-" else n for n in text.split()]
    if name == "arm":
        names.extend([None] * (387 - len(names)))
        names.append("execveat")
    return tuple(names)


@cache
def _numbers(name: str) -> dict[str, int]:
    return {n: i for i, n in enumerate(_table(name)) if n is not None}
