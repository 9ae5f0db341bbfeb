"""The ``procmon`` preset: audit every execve and execveat, 64-bit and 32-bit, under one key.

``-a always,exit -F arch=b64 -S execve,execveat [-F extra…] -F key=procmon`` and the same for
``b32``. Excluded executables become ``never`` rules placed before them (the kernel allows one
``exe`` field per rule, and the first matching rule of a list decides). The rules a key owns are
recognised by shape (exit list, exec syscalls only, that key), so ``remove`` and a repeated
``install`` touch exactly them and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from exectrail.audit_tables.arches import BY_AUDIT_ARCH, Arch, native_arches
from exectrail.errors import UsageError
from exectrail.kernel.rules import rule as m
from exectrail.kernel.rules.rule import Rule, RuleField

DEFAULT_KEY = "procmon"
_FORBIDDEN_FIELDS = frozenset({m.ARCH, m.FILTERKEY, m.MSGTYPE, m.PERM, m.WATCH, m.DIR, m.FIELD_COMPARE})


@dataclass(frozen=True, slots=True)
class ProcmonSpec:
    """What to install: key, whether to cover execveat, extra fields, excluded executables."""

    key: str = DEFAULT_KEY
    execveat: bool = True
    fields: tuple[RuleField, ...] = ()
    exclude_exes: tuple[str, ...] = ()
    machine: str | None = None  # platform.machine() when None

    def __post_init__(self) -> None:
        check_key(self.key)
        for f in self.fields:
            if f.field in _FORBIDDEN_FIELDS:
                raise UsageError(f"field {f.name!r} cannot be added to the procmon rules")
        if sum(f.field == m.EXE for f in self.fields) > 1:
            raise UsageError("only one exe field per rule: use --exclude-exe for several exclusions")
        for path in self.exclude_exes:
            if not path.startswith("/"):
                raise UsageError(f"--exclude-exe wants an absolute path, got {path!r}")
            if not path.isprintable():  # a newline would add a line (-D, -e 0) to a rules file
                raise UsageError(f"--exclude-exe {path!r}: control characters cannot be written in a rule")


def check_key(key: str) -> None:
    """A key must be non-empty, at most 256 bytes, without blanks or the 0x01 separator."""
    raw = os.fsencode(key)
    if not raw or len(raw) > m.MAX_KEY_LEN or any(c <= 0x20 or c == 0x7F for c in raw):
        raise UsageError(f"bad key {key!r}: 1-{m.MAX_KEY_LEN} bytes, no blanks or control characters")


def exec_syscalls(arch: Arch, execveat: bool = True) -> tuple[int, ...]:
    return (arch.execve, arch.execveat) if execveat else (arch.execve,)


def procmon_rules(spec: ProcmonSpec) -> list[Rule]:
    """The preset's rules in install order: ``never`` exclusions first, then ``always`` rules."""
    arches = native_arches(spec.machine)
    key = RuleField(m.FILTERKEY, m.OPERATORS["="], os.fsencode(spec.key))
    out: list[Rule] = []
    for path in spec.exclude_exes:
        exe = RuleField(m.EXE, m.OPERATORS["="], os.fsencode(path))
        out.extend(_rule(arch, m.NEVER, (exe,), key, spec.execveat) for arch in arches)
    out.extend(_rule(arch, m.ALWAYS, spec.fields, key, spec.execveat) for arch in arches)
    return out


def _rule(arch: Arch, action: int, extra: tuple[RuleField, ...], key: RuleField, execveat: bool) -> Rule:
    arch_field = RuleField(m.ARCH, m.OPERATORS["="], arch.audit_arch)
    return Rule(
        filter=m.FILTER_EXIT,
        action=action,
        fields=(arch_field, *extra, key),
        mask=m.syscall_mask(exec_syscalls(arch, execveat)),
    )


def is_procmon_rule(rule: Rule, key: str = DEFAULT_KEY) -> bool:
    """True for a rule shaped like the preset's, carrying exactly ``key``."""
    if rule.filter != m.FILTER_EXIT or rule.action not in (m.ALWAYS, m.NEVER) or rule.keys != (key,):
        return False
    arch = BY_AUDIT_ARCH.get(rule.arch) if rule.arch is not None else None
    if arch is None or any(f.field == m.ARCH and f.op != m.OPERATORS["="] for f in rule.fields):
        return False
    syscalls = rule.syscalls
    return bool(syscalls) and syscalls <= set(exec_syscalls(arch))


@dataclass(frozen=True, slots=True)
class Plan:
    """Rules to delete, then rules to add (in this order)."""

    delete: tuple[Rule, ...] = ()
    add: tuple[Rule, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.delete and not self.add


def plan_install(current: list[Rule], desired: list[Rule], key: str) -> Plan:
    """Make the key's rules equal ``desired``, adding only what is missing when order allows."""
    ours = [r for r in current if is_procmon_rule(r, key)]
    if ours == desired:
        return Plan()
    keep = [r for r in ours if r in desired]
    missing = [r for r in desired if r not in ours]
    if keep + missing == desired:
        return Plan(tuple(r for r in ours if r not in desired), tuple(missing))
    return Plan(tuple(ours), tuple(desired))


def plan_remove(current: list[Rule], key: str) -> Plan:
    return Plan(delete=tuple(r for r in current if is_procmon_rule(r, key)))


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which exec syscalls of the native arches an ``always`` rule with the key covers."""

    covered: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def state(self) -> str:
        if not self.missing:
            return "complete"
        return "partial" if self.covered else "absent"


def coverage(current: list[Rule], key: str = DEFAULT_KEY, machine: str | None = None) -> Coverage:
    """Coverage of execve/execveat (both arches) by ``always,exit`` rules carrying ``key``."""
    covered: list[str] = []
    missing: list[str] = []
    for arch in native_arches(machine):
        for name, nr in (("execve", arch.execve), ("execveat", arch.execveat)):
            label = f"{arch.bits} {name}"
            hit = any(
                r.filter == m.FILTER_EXIT
                and r.action == m.ALWAYS
                and key in r.keys
                and r.arch in (None, arch.audit_arch)
                and nr in r.syscalls
                for r in current
            )
            (covered if hit else missing).append(label)
    return Coverage(tuple(covered), tuple(missing))
