"""fileless_flags: each flag by hand, from real audit logs, and as a property.

Real values: the captured workload (fexecve, i386 fexecve, execveat on a dirfd, programs run from
/tmp; cases found by the manifest's pids, read with ``exectrail.read_events``) and the exe values
ending in `` (deleted)`` that the peer logs hold (prelink and package upgrades; on other syscalls'
SYSCALL records, read with exectrail's record reader). No real log here holds a memfd or a loader
run directly: those cases are by hand.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail import read_events
from exectrail.enrich.fileless import FLAGS, fileless_flags
from exectrail.model import Diagnostics
from exectrail.parse.fields import BadValue, decode_text, split_fields
from exectrail.parse.logfile import read_records
from tests.support.ci import skip_or_fail
from tests.support.paths import CAPTURED_LOGS, PEER_LOGS

LD = "/lib64/ld-linux-x86-64.so.2"


def argv(*words: str) -> tuple[bytes, ...]:
    return tuple(w.encode() for w in words)


Case = tuple[
    str, str | None, list[str | None], str | None, tuple[bytes, ...] | None, str | None, tuple[str, ...]
]
HAND: list[Case] = [
    ("plain", "/usr/bin/true", ["/usr/bin/true", LD], "execve", argv("true"), "/", ()),
    ("memfd", "/memfd:payload (deleted)", [""], "execveat", argv("x"), "/", ("memfd", "fd")),
    (
        "memfd via /proc/self/fd",
        "/memfd: (deleted)",
        ["/proc/self/fd/4"],
        "execve",
        argv("x"),
        "/",
        ("memfd", "fd"),
    ),
    ("memfd named like /tmp/.x", "/memfd:/tmp/.x (deleted)", [""], "execveat", None, "/", ("memfd", "fd")),
    ("deleted", "/usr/sbin/sshd (deleted)", ["/usr/sbin/sshd"], "execve", None, "/", ("deleted",)),
    ("deleted in /tmp", "/tmp/x (deleted)", ["/tmp/x"], "execve", None, "/", ("deleted", "scratch-dir")),
    ("fexecve", "/usr/bin/true", [""], "execveat", argv("true"), "/", ("fd",)),
    ("empty name but execve", "/usr/bin/true", [""], "execve", argv("true"), "/", ()),
    ("execveat dirfd name", "/usr/bin/true", ["true", LD], "execveat", argv("true"), "/tmp", ()),
    ("/dev/fd path", "/usr/bin/true", ["/dev/fd/3"], "execve", argv("true"), "/", ("fd",)),
    ("/proc/PID/fd path", "/usr/bin/true", ["/proc/812/fd/7"], "execve", argv("true"), "/", ("fd",)),
    ("/proc/self/fdinfo is not fd", "/usr/bin/true", ["/proc/self/fdinfo/3"], "execve", argv("t"), "/", ()),
    ("/tmp", "/tmp/x", ["/tmp/x"], "execve", argv("x"), "/", ("scratch-dir",)),
    ("/dev/shm", "/dev/shm/a/b", ["b"], "execve", argv("b"), "/dev/shm/a", ("scratch-dir",)),
    ("/var/tmp", "/var/tmp/x", ["x"], "execve", argv("x"), "/", ("scratch-dir",)),
    ("/run/user/*", "/run/user/1000/x", ["x"], "execve", argv("x"), "/", ("scratch-dir",)),
    ("hidden directory", "/home/u/.cache/x", ["x"], "execve", argv("x"), "/", ("scratch-dir",)),
    ("hidden file", "/usr/local/bin/.x", ["x"], "execve", argv("x"), "/", ("scratch-dir",)),
    ("not /tmpfoo", "/tmpfoo/x", ["/tmpfoo/x"], "execve", argv("x"), "/", ()),
    ("not /run/user itself", "/run/user/x", ["/run/user/x"], "execve", argv("x"), "/", ()),
    ("not /var/tmpx", "/var/tmpx/y", ["/var/tmpx/y"], "execve", argv("x"), "/", ()),
    ("/tmp as cwd, exe elsewhere", "/usr/bin/true", ["./true"], "execve", argv("./true"), "/tmp", ()),
    ("/tmp path but exe elsewhere", "/usr/bin/true", ["/tmp/link"], "execve", argv("t"), "/", ()),
    ("no exe: path joined with cwd", None, ["./x"], "execve", None, "/tmp", ("scratch-dir",)),
    ("no exe: dotdot", None, ["../../tmp/x"], "execve", None, "/home/u", ("scratch-dir",)),
    ("no exe: dotdot out of /tmp", None, ["../usr/x"], "execve", None, "/tmp", ()),
    ("no exe: execveat stays relative", None, ["x"], "execveat", None, "/tmp", ()),
    ("no exe: hidden relative", None, [".x/y"], "execveat", None, None, ("scratch-dir",)),
    (
        "loader",
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        [LD],
        "execve",
        argv("ld", "/usr/bin/true"),
        "/",
        ("loader",),
    ),
    ("loader i386", "/lib/ld-linux.so.2", ["/lib/ld-linux.so.2"], "execve", None, "/", ("loader",)),
    ("loader musl", "/lib/ld-musl-x86_64.so.1", ["x"], "execve", argv("ld"), "/", ("loader",)),
    ("loader ld.so", "/usr/libexec/ld.so", ["x"], "execve", argv("ld"), "/", ("loader",)),
    ("loader ppc64le", "/lib64/ld64.so.2", ["x"], "execve", argv("ld"), "/", ("loader",)),
    (
        "loader copied to /tmp",
        "/tmp/ld-linux-x86-64.so.2",
        ["x"],
        "execve",
        argv("ld"),
        "/",
        ("scratch-dir", "loader"),
    ),
    (
        "loader loads from /dev/shm",
        "/lib64/ld-linux-x86-64.so.2",
        [LD],
        "execve",
        argv("ld", "--library-path", "/usr/lib", "--inhibit-cache", "/dev/shm/p"),
        "/",
        ("scratch-dir", "loader"),
    ),
    (
        "loader loads relative",
        "/lib64/ld-linux-x86-64.so.2",
        [LD],
        "execve",
        argv("ld", "./p"),
        "/var/tmp",
        ("scratch-dir", "loader"),
    ),
    (
        "loader loads an fd",
        "/lib64/ld-linux-x86-64.so.2",
        [LD],
        "execve",
        argv("ld", "/proc/self/fd/3"),
        "/",
        ("fd", "loader"),
    ),
    (
        "loader option value is not the program",
        "/lib64/ld-linux-x86-64.so.2",
        [LD],
        "execve",
        argv("ld", "--preload", "/tmp/x.so", "/usr/bin/true"),
        "/",
        ("loader",),
    ),
    (
        "loader as item 1 is not run directly",
        "/usr/bin/true",
        ["/usr/bin/true", LD],
        "execve",
        argv("t"),
        "/",
        (),
    ),
    ("nothing known", None, [], None, None, None, ()),
]


@pytest.mark.parametrize(("exe", "paths", "syscall", "args", "cwd", "expected"), [c[1:] for c in HAND],
                         ids=[c[0] for c in HAND])  # fmt: skip
def test_by_hand(
    exe: str | None,
    paths: list[str | None],
    syscall: str | None,
    args: tuple[bytes, ...] | None,
    cwd: str | None,
    expected: tuple[str, ...],
) -> None:
    assert fileless_flags(exe, paths, syscall, args, cwd) == expected


def test_flags_names() -> None:
    assert FLAGS == ("memfd", "deleted", "fd", "scratch-dir", "loader")


# --- real logs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("log", CAPTURED_LOGS[:2], ids=["enriched", "raw_node"])
def test_captured_execs(log: Path) -> None:
    """fexecve (x86_64 and i386) is ``fd``; execveat on a dirfd is not; the helpers built in the
    runner's /tmp work directory are ``scratch-dir``; /usr/bin programs are nothing."""
    with gzip.open(log.parent / (log.name.split(".")[0] + ".manifest.json.gz"), "rt") as handle:
        manifest = json.load(handle)
    workdir = bytes.fromhex(manifest["workdir_hex"]).decode()
    assert workdir.startswith("/tmp/")
    cases = {case["name"]: case for case in manifest["cases"]}
    expected = {
        "fexecve": [("scratch-dir",), ("fd",)],  # the helper in the workdir, then /usr/bin/true by fd
        "i386_static_execveat": [("scratch-dir",), ("fd",)],
        "execveat_dirfd": [("scratch-dir",), ()],
        "relative_path": [("scratch-dir",)],
        "shebang_sh": [()],  # exe /usr/bin/dash: the script in /tmp is not the executed file
        "shebang_env_python3": [(), ()],
    }
    events = list(read_events([log]))
    for name, wanted in expected.items():
        mine = [e for e in events if e.pid == cases[name]["pid"]]
        got = [fileless_flags(e.exe, [e.path], e.syscall, e.argv, e.cwd) for e in mine]
        assert got == wanted, name
    fexecs = [e for e in events if e.syscall == "execveat" and e.path == ""]
    assert len(fexecs) == 2
    by_fd = [e for e in events if "fd" in fileless_flags(e.exe, [e.path], e.syscall, e.argv, e.cwd)]
    assert by_fd == fexecs
    for event in events:  # no memfd, deleted file or loader was run in the capture
        flags = fileless_flags(event.exe, [event.path], event.syscall, event.argv, event.cwd)
        assert not {"memfd", "deleted", "loader"} & set(flags), event


#: exe values with " (deleted)" in the peer logs, read off the raw lines by hand (hex there)
DELETED_EXES = {
    "elastic__beats/filebeat__module__auditd__log__test__test.log":
        "/usr/libexec/strongswan/charon (deleted)",
    "elastic__go-libaudit/testdata__normal.log": "/usr/bin/python2.7;58d1ccfb (deleted)",
    "elastic__go-libaudit/aucoalesce__testdata__rhel-7-linux-3.10.0.yaml.events.log":
        "/usr/lib/systemd/systemd-logind;58f98c85 (deleted)",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DELETED_EXES))
def test_real_deleted_exes(name: str) -> None:
    log = PEER_LOGS / name
    if not log.is_file():
        skip_or_fail(f"peer logs not found at {PEER_LOGS}")
    exes = set()
    for record in read_records([log], Diagnostics()):
        raw = split_fields(record.body).get(b"exe") if record.type == "SYSCALL" else None
        try:
            exes.add(decode_text(raw))
        except BadValue:  # a hand-edited line (exe=/usr/bin/top unquoted): not the kernel's
            continue
    assert DELETED_EXES[name] in exes
    for exe in exes:
        if exe is None:
            continue
        flags = fileless_flags(exe, [], "execve", None)
        assert flags == (("deleted",) if exe == DELETED_EXES[name] else ()), exe


# --- properties ----------------------------------------------------------------------------------

_TEXT = st.one_of(
    st.none(),
    st.binary(max_size=24).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.lists(st.sampled_from(["", "tmp", "dev", "shm", "run", "user", "1000", ".h", "..", ".", "proc", "self",
                              "fd", "3", "memfd:x", "ld.so", "ld-linux-x86-64.so.2", "x (deleted)"]),
             max_size=5).map("/".join),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    exe=_TEXT,
    paths=st.lists(_TEXT, max_size=4),
    syscall=st.sampled_from([None, "execve", "execveat", "x"]),
    args=st.one_of(st.none(), st.lists(st.binary(max_size=16), max_size=80).map(tuple)),
    cwd=_TEXT,
)
def test_flags_are_known_and_in_order(
    exe: str | None,
    paths: Sequence[str | None],
    syscall: str | None,
    args: tuple[bytes, ...] | None,
    cwd: str | None,
) -> None:
    flags = fileless_flags(exe, paths, syscall, args, cwd)
    assert isinstance(flags, tuple) and set(flags) <= set(FLAGS)
    assert list(flags) == [flag for flag in FLAGS if flag in flags]
    assert not {"memfd", "deleted"} <= set(flags)
