"""The parser's view of the audit tables (:mod:`exectrail.audit_tables`): record types, arch codes
as logged (``arch=c000003e``) and the exec syscall numbers."""

from __future__ import annotations

from exectrail.audit_tables import ALL, BY_CODE, EOE, RECORD_NUMBERS, RECORD_TYPES, record_type_name

#: AUDIT_ARCH_* values as logged in hex by the kernel (``c000003e``) -> arch name (``x86_64``).
ARCHES: dict[str, str] = {code: arch.name for code, arch in BY_CODE.items()}
ARCH_CODES: dict[str, int] = {arch.name: arch.audit_arch for arch in ALL}

#: (arch name, syscall number) -> exec syscall name. Only exec syscalls matter to exectrail.
EXEC_SYSCALLS: dict[tuple[str, int], str] = {
    key: name
    for arch in ALL
    for key, name in (((arch.name, arch.execve), "execve"), ((arch.name, arch.execveat), "execveat"))
}


def arch_name(code: str) -> str:
    """``x86_64`` for ``c000003e``; unknown codes come back as ``0x…``."""
    name = ARCHES.get(code.lower())
    return name if name is not None else f"0x{code}"


__all__ = [
    "ARCHES",
    "ARCH_CODES",
    "EOE",
    "EXEC_SYSCALLS",
    "RECORD_NUMBERS",
    "RECORD_TYPES",
    "arch_name",
    "record_type_name",
]
