"""The rules' view of the audit tables (:mod:`exectrail.audit_tables`): the arches exectrail writes
rules for, auditctl's known arches, and this machine's native pair."""

from __future__ import annotations

import platform

from exectrail.audit_tables import ALL, ARCH_64BIT, NATIVE, Arch
from exectrail.errors import UsageError

#: The arches exectrail writes rules for (it carries their syscall name tables).
ARCHES: dict[str, Arch] = {a.name: a for a in ALL if a.rules}
BY_AUDIT_ARCH: dict[int, Arch] = {a.audit_arch: a for a in ARCHES.values()}

# Other AUDIT_ARCH values auditctl knows by machine (it prints them as b64/b32 too).
KNOWN_AUDIT_ARCHES = frozenset(BY_AUDIT_ARCH) | {a.audit_arch for a in ALL if a.auditctl}


def native_arches(machine: str | None = None) -> tuple[Arch, Arch]:
    """(64-bit arch, compat 32-bit arch) of this machine; :class:`UsageError` elsewhere."""
    machine = machine or platform.machine()
    names = NATIVE.get(machine)
    if names is None:
        raise UsageError(f"unsupported machine {machine!r} (exectrail knows x86_64 and aarch64)")
    return ARCHES[names[0]], ARCHES[names[1]]


__all__ = ["ARCHES", "ARCH_64BIT", "BY_AUDIT_ARCH", "KNOWN_AUDIT_ARCHES", "NATIVE", "Arch", "native_arches"]
