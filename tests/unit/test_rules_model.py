"""The rule model, auditctl rendering, the procmon preset and its install plans (no kernel)."""

from __future__ import annotations

import pytest

from exectrail.errors import UsageError
from exectrail.kernel.rules import rule as m
from exectrail.kernel.rules.procmon import ProcmonSpec, coverage, is_procmon_rule, plan_install, plan_remove
from exectrail.kernel.rules.procmon import procmon_rules as _procmon_rules
from exectrail.kernel.rules.render import rules_file, rules_listing, to_auditctl
from exectrail.kernel.rules.rule import Rule, RuleField, parse_field, syscall_mask

EQ = m.OPERATORS["="]


def procmon_rules(spec: ProcmonSpec = ProcmonSpec()) -> list[Rule]:  # noqa: B008
    return _procmon_rules(ProcmonSpec(spec.key, spec.execveat, spec.fields, spec.exclude_exes, "x86_64"))


def rule(*fields: RuleField, syscalls: tuple[int, ...] = (59,), action: int = m.ALWAYS) -> Rule:
    return Rule(m.FILTER_EXIT, action, fields, syscall_mask(syscalls))


def test_procmon_default_rules() -> None:
    assert rules_listing(procmon_rules()).splitlines() == [
        "-a always,exit -F arch=b64 -S execve,execveat -F key=procmon",
        "-a always,exit -F arch=b32 -S execve,execveat -F key=procmon",
    ]


def test_procmon_options() -> None:
    spec = ProcmonSpec(
        key="exe",
        execveat=False,
        fields=(parse_field("auid>=1000"), parse_field("auid!=unset"), parse_field("uid=0")),
        exclude_exes=("/usr/bin/true",),
    )
    assert rules_listing(procmon_rules(spec)).splitlines() == [
        "-a never,exit -F arch=b64 -S execve -F exe=/usr/bin/true -F key=exe",
        "-a never,exit -F arch=b32 -S execve -F exe=/usr/bin/true -F key=exe",
        "-a always,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=-1 -F uid=0 -F key=exe",
        "-a always,exit -F arch=b32 -S execve -F auid>=1000 -F auid!=-1 -F uid=0 -F key=exe",
    ]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_procmon_syscalls_per_arch(machine: str) -> None:
    rules = _procmon_rules(ProcmonSpec(machine=machine))
    expected = {"x86_64": [{59, 322}, {11, 358}], "aarch64": [{221, 281}, {11, 387}]}[machine]
    assert [set(r.syscalls) for r in rules] == expected


def test_procmon_refuses_bad_specs() -> None:
    with pytest.raises(UsageError):
        ProcmonSpec(key="two words")
    with pytest.raises(UsageError):
        ProcmonSpec(fields=(parse_field("arch=b64"),))
    with pytest.raises(UsageError):
        ProcmonSpec(fields=(parse_field("exe!=/a"), parse_field("exe!=/b")))
    with pytest.raises(UsageError):
        ProcmonSpec(exclude_exes=("relative",))
    with pytest.raises(UsageError):
        _procmon_rules(ProcmonSpec(machine="sparc"))


@pytest.mark.parametrize(
    ("expr", "field", "op", "value"),
    [
        ("auid>=1000", m.LOGINUID, ">=", 1000),
        ("auid!=unset", m.LOGINUID, "!=", 0xFFFFFFFF),
        ("auid!=-1", m.LOGINUID, "!=", 0xFFFFFFFF),
        ("uid=root", m.UID, "=", 0),
        ("gid=root", m.GID, "=", 0),
        ("exe!=/usr/bin/x", m.EXE, "!=", b"/usr/bin/x"),
        ("a0&=0x10", 200, "&=", 16),
        ("exit=-EACCES", m.EXIT, "=", (-13) & 0xFFFFFFFF),
        ("perm=wa", m.PERM, "=", 10),
        ("msgtype=CWD", m.MSGTYPE, "=", 1307),
        ("ses<=3", m.SESSIONID, "<=", 3),
    ],
)
def test_parse_field(expr: str, field: int, op: str, value: int | bytes) -> None:
    assert parse_field(expr) == RuleField(field, m.OPERATORS[op], value)


@pytest.mark.parametrize("expr", ["auid", "nosuch=1", "uid=", "uid=nosuchuser_xyz", "pid=abc", "exe>/x"])
def test_parse_field_errors(expr: str) -> None:
    with pytest.raises(UsageError):
        parse_field(expr)


def test_render_foreign_rules() -> None:
    watch = Rule(
        m.FILTER_EXIT,
        m.ALWAYS,
        (
            RuleField(m.WATCH, EQ, b"/etc/passwd"),
            RuleField(m.PERM, EQ, 10),
            RuleField(m.FILTERKEY, EQ, b"a\x01b"),
        ),
        m.ALL_SYSCALLS,
    )
    assert to_auditctl(watch) == "-w /etc/passwd -p wa -k a -k b"
    odd = rule(
        RuleField(m.EXIT, m.OPERATORS["<"], 0xFFFFFFFF),
        RuleField(201, EQ, 9),
        RuleField(999, EQ, 0xFFFFFFFE),
        RuleField(m.FIELD_COMPARE, m.OPERATORS["!="], 11),
        RuleField(m.INODE, EQ, 4294967200),
        syscalls=(59, 1000),
    )
    assert (
        to_auditctl(odd)
        == "-a always,exit -S execve,1000 -F exit<-EPERM -F a1=0x9 f999=-2 -C uid!=euid -F inode=4294967200"
    )
    exclude = Rule(m.FILTER_EXCLUDE, m.NEVER, (RuleField(m.MSGTYPE, EQ, 1307),))
    assert to_auditctl(exclude) == "-a never,exclude -F msgtype=CWD"
    assert (
        to_auditctl(rule(RuleField(m.ARCH, EQ, 0x1234), syscalls=(5,)))
        == "-a always,exit -F arch=0x1234 -S 5"
    )


def test_round_trip_and_keys() -> None:
    for r in procmon_rules(ProcmonSpec(fields=(parse_field("exe!=/x"),), exclude_exes=("/y",))):
        assert Rule.from_bytes(r.to_bytes()) == r
        assert r.keys == ("procmon",)


def test_rules_file_has_header_and_rules() -> None:
    text = rules_file(procmon_rules(), ["first", ""])
    assert text.splitlines()[:3] == [
        "# first",
        "#",
        "-a always,exit -F arch=b64 -S execve,execveat -F key=procmon",
    ]
    assert text.endswith("\n")


def test_is_procmon_rule_recognises_shape_and_key() -> None:
    ours = procmon_rules()
    assert all(is_procmon_rule(r) for r in ours)
    assert not any(is_procmon_rule(r, "other") for r in ours)
    arch = RuleField(m.ARCH, EQ, 0xC000003E)
    key = RuleField(m.FILTERKEY, EQ, b"procmon")
    assert not is_procmon_rule(rule(arch, key, syscalls=(59, 2)))  # open as well: not ours
    assert not is_procmon_rule(rule(key, syscalls=(59,)))  # no arch
    assert is_procmon_rule(rule(arch, key, syscalls=(59,)))


def test_plan_install_is_idempotent_and_minimal() -> None:
    foreign = rule(RuleField(m.ARCH, EQ, 0xC000003E), RuleField(m.FILTERKEY, EQ, b"x"))
    desired = procmon_rules()
    fresh = plan_install([foreign], desired, "procmon")
    assert fresh.delete == () and list(fresh.add) == desired
    assert plan_install([foreign, *desired], desired, "procmon").empty
    partial = plan_install([desired[0], foreign], desired, "procmon")
    assert partial.delete == () and list(partial.add) == desired[1:]


def test_plan_install_replaces_when_order_matters() -> None:
    old = procmon_rules()
    new = procmon_rules(ProcmonSpec(exclude_exes=("/usr/bin/true",)))
    plan = plan_install(old, new, "procmon")
    assert list(plan.delete) == old and list(plan.add) == new
    assert list(plan_remove([*new, rule()], "procmon").delete) == new


def test_coverage() -> None:
    rules = procmon_rules(ProcmonSpec(execveat=False))
    cover = coverage(rules, machine="x86_64")
    assert cover.state == "partial" and cover.missing == ("b64 execveat", "b32 execveat")
    assert coverage(procmon_rules(), machine="x86_64").state == "complete"
    assert coverage([], machine="x86_64").state == "absent"
