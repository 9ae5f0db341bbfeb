"""One audit table serves the parser and the rules: both views agree with it and with themselves."""

from __future__ import annotations

from exectrail import audit_tables
from exectrail.audit_tables import arches
from exectrail.parse import types


def test_exec_numbers_agree_with_the_syscall_name_tables() -> None:
    for arch in audit_tables.ALL:
        if arch.rules:
            assert arch.syscall_name(arch.execve) == "execve", arch.name
            assert arch.syscall_name(arch.execveat) == "execveat", arch.name
            assert arch.syscall_number("execve") == arch.execve
        else:
            assert audit_tables.syscall_names(arch.name) == ()


def test_the_parser_and_the_rules_read_the_same_arches() -> None:
    for arch in audit_tables.ALL:
        assert types.arch_name(f"{arch.audit_arch:08x}".lstrip("0")) == arch.name
        assert types.EXEC_SYSCALLS[(arch.name, arch.execve)] == "execve"
        assert types.EXEC_SYSCALLS[(arch.name, arch.execveat)] == "execveat"
        assert types.ARCH_CODES[arch.name] == arch.audit_arch
        if arch.rules:
            assert arches.BY_AUDIT_ARCH[arch.audit_arch] is arch
        assert (arch.audit_arch in arches.KNOWN_AUDIT_ARCHES) == (arch.auditctl or arch.rules)
    assert len(types.EXEC_SYSCALLS) == 2 * len(audit_tables.ALL)
    assert types.arch_name("DEADBEEF") == "0xDEADBEEF"


def test_record_types_are_one_to_one() -> None:
    assert len(audit_tables.RECORD_NUMBERS) == len(audit_tables.RECORD_TYPES)
    assert audit_tables.RECORD_TYPES[audit_tables.EOE] == "EOE"
    assert types.record_type_name(1300) == "SYSCALL" and types.record_type_name(9999) == "UNKNOWN[9999]"
