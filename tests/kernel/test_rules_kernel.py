"""`exectrail rules` against the real kernel, checked with the real auditctl."""

from __future__ import annotations

from pathlib import Path

import pytest

from exectrail.kernel.rules.procmon import ProcmonSpec, procmon_rules
from exectrail.kernel.rules.rule import Rule
from tests.support.kernel import Kernel, auditctl, exectrail

pytestmark = pytest.mark.kernel

DEFAULT = [
    "-a always,exit -F arch=b64 -S execve,execveat -F key=procmon",
    "-a always,exit -F arch=b32 -S execve,execveat -F key=procmon",
]

# Rules of other people: every kind of field auditctl prints (auditctl 3.0.9 prints `exe!=` as `exe=`,
# fixed upstream since; exectrail prints the operator, so no `exe!=` here).
FOREIGN = """\
-w /etc/passwd -p wa -k identity
-w /etc/sudoers.d/ -p rwxa -k sudo -k priv
-a always,exit -F arch=b64 -S open,openat,creat -F exit=-EACCES -F auid>=1000 -F auid!=unset -k access
-a always,exit -F arch=b32 -S open,openat -F exit=-EPERM -k access
-a always,exit -F arch=b64 -S connect -F a0=0x2 -F success=0 -k net
-a always,exit -F arch=b64 -S setuid -C uid!=euid -F euid=0 -k setuid
-a always,exit -F arch=b64 -S all -F path=/etc/shadow -F perm=r -k shadow
-a always,exit -F dir=/tmp -F perm=w -F key=tmpw
-a never,exclude -F msgtype=CWD
-a always,exclude -F msgtype=1234
-a never,user -F uid=0
-a never,task -F uid=1234
-a always,exit -F arch=b64 -S execve -F uid=root -F gid=0 -F pid=1 -F ppid=1 -F sessionid=3 -k a -k b
-a always,exit -F arch=b64 -S kill,tkill -F a1=9 -F exe=/usr/bin/bash -k kill
-a always,exit -F arch=b64 -S mount -F exit=5 -F inode=4294967200 -F devmajor=8 -F filetype=file -k m
-a always,exit -F arch=b64 -S pread,pwrite -k rw
-a always,exit -F arch=b32 -S all -F auid=0
-a always,exit -F arch=b64 -S openat -F a2&0100 -F a3&=0x3 -F exit<-1 -F success!=1 -F pid>5
-a always,exit -F arch=b64 -S 451,452,460
-a always,exit -F arch=b64 -S open -k procmon
"""


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and line != "No rules"]


def test_install_list_remove(kernel: Kernel) -> None:
    first = exectrail("rules", "install")
    assert "installed 2 rule(s)" in first.stdout
    assert lines(auditctl("-l")) == lines(kernel.before["rules"]) + DEFAULT
    assert exectrail("rules", "show").stdout == auditctl("-l")
    assert lines(exectrail("rules", "show", "--key", "procmon").stdout) == DEFAULT
    assert "removed 2 rule(s)" in exectrail("rules", "remove").stdout
    assert auditctl("-l") == kernel.before["rules"]


def test_install_is_idempotent(kernel: Kernel) -> None:
    exectrail("rules", "install")
    again = exectrail("rules", "install")
    assert "nothing to do" in again.stdout
    assert lines(auditctl("-l")).count(DEFAULT[0]) == 1
    assert exectrail("rules", "remove").stdout.startswith("removed 2")
    assert "nothing to do" in exectrail("rules", "remove").stdout


def test_install_with_filters_and_exclusions(kernel: Kernel) -> None:
    args = ["-F", "auid>=1000", "-F", "auid!=unset", "--exclude-exe", "/usr/bin/true", "--no-execveat"]
    exectrail("rules", "install", "--key", "users", *args)
    assert lines(auditctl("-l", "-k", "users")) == [
        "-a never,exit -F arch=b64 -S execve -F exe=/usr/bin/true -F key=users",
        "-a never,exit -F arch=b32 -S execve -F exe=/usr/bin/true -F key=users",
        "-a always,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=-1 -F key=users",
        "-a always,exit -F arch=b32 -S execve -F auid>=1000 -F auid!=-1 -F key=users",
    ]
    # a different spec for the same key replaces the rules, order kept right
    exectrail("rules", "install", "--key", "users")
    assert lines(auditctl("-l", "-k", "users")) == [r.replace("procmon", "users") for r in DEFAULT]
    assert exectrail("rules", "remove", "--key", "users").stdout.startswith("removed 2")


def test_snippet_loaded_by_auditctl(kernel: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "10-procmon.rules"
    path.write_text(exectrail("rules", "snippet", "-F", "uid=0", "--exclude-exe", "/usr/bin/id").stdout)
    auditctl("-R", str(path))
    listing = auditctl("-l")
    assert exectrail("rules", "show").stdout == listing
    assert len(lines(listing)) == len(lines(kernel.before["rules"])) + 4
    # the same spec over netlink sees them as already installed; remove takes exactly them
    again = exectrail("rules", "install", "-F", "uid=0", "--exclude-exe", "/usr/bin/id")
    assert "nothing to do" in again.stdout
    assert exectrail("rules", "remove").stdout.startswith("removed 4")
    assert auditctl("-l") == kernel.before["rules"]


def test_show_renders_foreign_rules_like_auditctl(kernel: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "foreign.rules"
    path.write_text(FOREIGN)
    auditctl("-R", str(path))
    listing = auditctl("-l")
    assert len(lines(listing)) >= len(FOREIGN.splitlines())
    assert exectrail("rules", "show").stdout == listing
    # a foreign rule with our key but other syscalls is not ours: remove leaves it
    exectrail("rules", "install")
    exectrail("rules", "remove")
    assert auditctl("-l") == listing


def test_kernel_lists_exactly_the_bytes_we_build(kernel: Kernel) -> None:
    expected = procmon_rules(ProcmonSpec(fields=(), exclude_exes=("/usr/bin/true",)))
    auditctl(
        "-a",
        "never,exit",
        "-F",
        "arch=b64",
        "-S",
        "execve,execveat",
        "-F",
        "exe=/usr/bin/true",
        "-k",
        "procmon",
    )
    blobs = kernel.client.list_rules()[len(kernel.snapshot.rules) :]
    assert blobs == [expected[0].to_bytes()]
    assert Rule.from_bytes(blobs[0]) == expected[0]
