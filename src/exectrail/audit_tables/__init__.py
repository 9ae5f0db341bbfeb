"""The kernel's audit tables, data only: record types, architectures, syscall numbers and names.

One source for the log parser (:mod:`exectrail.parse`, :mod:`exectrail.assemble`) and the rules
(:mod:`exectrail.kernel.rules`); bottom layer, it imports nothing of exectrail but :mod:`exectrail.errors`.

* :mod:`~exectrail.audit_tables.records`: record type numbers ↔ names (``linux/audit.h``);
* :mod:`~exectrail.audit_tables.arches`: ``AUDIT_ARCH_*`` values and exec syscall numbers per arch,
  and the arches rules are written for;
* :mod:`~exectrail.audit_tables.syscalls`: syscall name tables per arch (generated from the UAPI
  headers).
"""

from __future__ import annotations

from exectrail.audit_tables.arches import ALL, ARCH_64BIT, BY_CODE, BY_NAME, NATIVE, Arch, syscall_names
from exectrail.audit_tables.records import EOE, RECORD_NUMBERS, RECORD_TYPES, record_type_name

__all__ = [
    "ALL",
    "ARCH_64BIT",
    "BY_CODE",
    "BY_NAME",
    "EOE",
    "NATIVE",
    "RECORD_NUMBERS",
    "RECORD_TYPES",
    "Arch",
    "record_type_name",
    "syscall_names",
]
