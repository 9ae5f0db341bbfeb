"""script_path: the script an interpreter ran, by hand, from real audit logs, and on a real process.

Real logs: the project's captures (tests/data, cases found by the manifest's pids) and the peer logs
(../shared/peer-logs, read in place). Their events come from ``exectrail.read_events``; all PATH
names of an event from ``exectrail.parse.logfile.read_records``. Expected scripts were read off the
raw lines by hand.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail import read_events
from exectrail.enrich.script import MAX_ARGS, absolute_path, script_path
from exectrail.model import Diagnostics, ExecEvent
from exectrail.parse.fields import decode_text, split_fields
from exectrail.parse.logfile import read_records
from tests.support.ci import skip_or_fail
from tests.support.paths import CAPTURED_LOGS, PEER_LOGS

ENRICHED, RAW_NODE = CAPTURED_LOGS[0], CAPTURED_LOGS[1]


def argv(*words: str) -> tuple[bytes, ...]:
    return tuple(w.encode() for w in words)


# --- by hand -------------------------------------------------------------------------------------

HAND: list[tuple[str, str | None, tuple[bytes, ...], str | None, list[str | None], str | None]] = [
    # shebang, all PATH items: item 0 script, item 1 interpreter, item 2 loader
    (
        "shebang",
        "/usr/bin/dash",
        argv("/bin/sh", "./x.sh", "a"),
        "/w",
        ["./x.sh", "/bin/sh", "/lib64/ld-linux-x86-64.so.2"],
        "/w/x.sh",
    ),
    (
        "shebang item 0 twice",
        "/usr/bin/dash",
        argv("/bin/sh", "x.sh"),
        "/w",
        ["x.sh", "x.sh", "/bin/sh"],
        "/w/x.sh",
    ),
    (
        "shebang arg",
        "/usr/bin/awk",
        argv("/usr/bin/awk", "-f", "/opt/a.awk", "z"),
        "/",
        ["/opt/a.awk", "/usr/bin/awk"],
        "/opt/a.awk",
    ),
    (
        "shebang dotdot",
        "/usr/bin/perl",
        argv("/usr/bin/perl", "../s/p.pl"),
        "/home/u/w",
        ["../s/p.pl", "/usr/bin/perl"],
        "/home/u/s/p.pl",
    ),
    (
        "shebang item 0 only",
        "/usr/bin/gawk",
        argv("/usr/bin/awk", "-f", "/opt/a.awk"),
        "/",
        ["/opt/a.awk"],
        "/opt/a.awk",
    ),
    (
        "shebang execveat dirfd",
        "/usr/bin/gawk",
        argv("/usr/bin/awk", "-f", "/dev/fd/3/a.awk"),
        "/w",
        ["a.awk", "/usr/bin/awk"],
        "a.awk",
    ),
    (
        "plain dynamic ELF",
        "/usr/bin/cat",
        argv("cat", "/usr/bin/cat"),
        "/",
        ["/usr/bin/cat", "/lib64/ld-linux-x86-64.so.2"],
        None,
    ),
    (
        "merged /usr, ELF",
        "/usr/bin/cat",
        argv("/bin/cat", "/bin/cat"),
        "/",
        ["/bin/cat", "/lib64/ld-linux-x86-64.so.2"],
        None,
    ),
    (
        "ELF, item 0 twice",
        "/usr/bin/cat",
        argv("/bin/cat", "/bin/cat"),
        "/",
        ["/bin/cat", "/bin/cat", "/lib64/ld-linux-x86-64.so.2"],
        None,
    ),
    ("static ELF", "/opt/busybox", argv("x", "/opt/y"), "/", ["/opt/busybox"], None),
    ("sh -c X, item 0 only", "/usr/bin/dash", argv("sh", "-c", "/bin/sh"), "/", ["/bin/sh"], None),
    # interpreters run on a file
    ("python", "/usr/bin/python3.11", argv("python3", "x.py", "-c"), "/w", ["/usr/bin/python3"], "/w/x.py"),
    (
        "python options",
        "/usr/bin/python3",
        argv("p", "-u", "-W", "error", "-X", "dev", "-BE", "/a/b.py"),
        "/",
        [],
        "/a/b.py",
    ),
    ("python attached -W", "/usr/bin/python3", argv("p", "-Wd", "-Xutf8", "s.py"), "/r", [], "/r/s.py"),
    ("python -W takes -c", "/usr/bin/python3", argv("p", "-W", "-c", "s.py"), "/r", [], "/r/s.py"),
    ("python --", "/usr/bin/python3", argv("p", "--", "-odd.py"), "/r", [], "/r/-odd.py"),
    ("python -c", "/usr/bin/python3", argv("python3", "-c", "import os", "x.py"), "/", [], None),
    ("python -uc", "/usr/bin/python3", argv("python3", "-uc", "pass"), "/", [], None),
    ("python -m", "/usr/bin/python3", argv("python3", "-m", "http.server"), "/", [], None),
    ("python -", "/usr/bin/python3", argv("python3", "-", "x.py"), "/", [], None),
    ("python interactive", "/usr/bin/python3", argv("python3", "-i"), "/", [], None),
    (
        "python check-hash",
        "/usr/bin/python3",
        argv("p", "--check-hash-based-pycs", "never", "s.py"),
        "/",
        [],
        "/s.py",
    ),
    (
        "bash",
        "/usr/bin/bash",
        argv("bash", "-e", "-o", "pipefail", "+O", "extglob", "--norc", "run.sh", "x"),
        "/t",
        [],
        "/t/run.sh",
    ),
    ("bash --rcfile", "/bin/bash", argv("bash", "--rcfile", "rc", "s.sh"), "/t", [], "/t/s.sh"),
    ("bash -", "/bin/bash", argv("bash", "-", "s.sh"), "/t", [], "/t/s.sh"),
    ("bash -s", "/bin/bash", argv("bash", "-s", "x.sh"), "/", [], None),
    ("bash -ec", "/bin/bash", argv("bash", "-ec", "echo"), "/", [], None),
    ("bash interactive", "/bin/bash", argv("-bash"), "/", [], None),
    ("bash -i", "/bin/bash", argv("bash", "-i"), "/", [], None),
    ("zsh", "/usr/bin/zsh", argv("zsh", "-f", "s.zsh"), "/", [], "/s.zsh"),
    ("fish -c", "/usr/bin/fish", argv("fish", "-c", "echo", "s.fish"), "/", [], None),
    (
        "perl",
        "/usr/bin/perl",
        argv("perl", "-w", "-I", "lib", "-MData::Dumper", "-pi.bak", "x.pl"),
        "/p",
        [],
        "/p/x.pl",
    ),
    ("perl -ne", "/usr/bin/perl", argv("perl", "-ne", "print", "f"), "/", [], None),
    ("perl -e", "/usr/bin/perl", argv("perl", "-e", "use Socket;"), "/", [], None),
    ("perl -S", "/usr/bin/perl", argv("perl", "-S", "tool.pl"), "/p", [], "tool.pl"),
    ("ruby", "/usr/bin/ruby3.1", argv("ruby", "-r", "json", "-W0", "s.rb"), "/r", [], "/r/s.rb"),
    ("ruby -e", "/usr/bin/ruby", argv("ruby", "-e", "p 1"), "/", [], None),
    (
        "node",
        "/usr/bin/node",
        argv("node", "--require", "x", "--inspect=9229", "app.js"),
        "/n",
        [],
        "/n/app.js",
    ),
    ("nodejs -e", "/usr/bin/nodejs", argv("nodejs", "-e", "1"), "/", [], None),
    ("php -f", "/usr/bin/php8.2", argv("php", "-d", "x=1", "-f", "i.php"), "/h", [], "/h/i.php"),
    ("php -r", "/usr/bin/php", argv("php", "-r", "echo 1;"), "/", [], None),
    ("lua -e then script", "/usr/bin/lua5.4", argv("lua", "-e", "x=1", "s.lua"), "/l", [], "/l/s.lua"),
    ("lua -", "/usr/bin/lua", argv("lua", "-"), "/", [], None),
    ("tclsh", "/usr/bin/tclsh8.6", argv("tclsh", "-encoding", "utf-8", "s.tcl"), "/c", [], "/c/s.tcl"),
    ("tclsh dash", "/usr/bin/tclsh", argv("tclsh", "-x"), "/", [], None),
    ("Rscript", "/usr/lib/R/bin/Rscript", argv("Rscript", "--vanilla", "a.R"), "/s", [], "/s/a.R"),
    ("Rscript -e", "/usr/bin/Rscript", argv("Rscript", "-e", "1"), "/", [], None),
    ("argv[0] is free text", "/usr/bin/cat", argv("python3", "x.py"), "/", [], None),
    ("deleted interpreter", "/usr/bin/python3.11 (deleted)", argv("python3", "x.py"), "/a", [], "/a/x.py"),
    # env launchers
    ("env", "/usr/bin/env", argv("env", "FOO=1", "-u", "HOME", "python3", "-u", "x.py"), "/e", [], "/e/x.py"),
    ("env -S", "/usr/bin/env", argv("/usr/bin/env", "-S python3 -W 'error' -u", "x.py"), "/e", [], "/e/x.py"),
    ("env -S -c", "/usr/bin/env", argv("/usr/bin/env", "-S", "python3 -c", "x.py"), "/e", [], None),
    ("env -C", "/usr/bin/env", argv("env", "-C", "sub", "bash", "s.sh"), "/e", [], "/e/sub/s.sh"),
    ("env --chdir", "/usr/bin/env", argv("env", "--chdir=/x", "--", "bash", "s.sh"), "/e", [], "/x/s.sh"),
    ("env env", "/usr/bin/env", argv("env", "env", "perl", "p.pl"), "/e", [], "/e/p.pl"),
    ("env of a non-interpreter", "/usr/bin/env", argv("env", "ls", "x"), "/", [], None),
    ("env alone", "/usr/bin/env", argv("env", "-i"), "/", [], None),
    # bounds and missing values
    ("script past 64 args", "/usr/bin/python3", (b"python3", *[b"-u"] * 70, b"x.py"), "/", [], None),
    ("no argv (failed exec)", "/usr/bin/python3", (), "/", ["/usr/bin/python3"], None),
    ("no cwd", "/usr/bin/python3", argv("python3", "x.py"), None, [], "x.py"),
    ("no exe", None, argv("python3", "x.py"), "/", [], None),
    ("empty script name", "/usr/bin/python3", argv("python3", ""), "/", [], None),
]


@pytest.mark.parametrize(("exe", "args", "cwd", "paths", "expected"), [c[1:] for c in HAND],
                         ids=[c[0] for c in HAND])  # fmt: skip
def test_by_hand(
    exe: str | None, args: tuple[bytes, ...], cwd: str | None, paths: list[str | None], expected: str | None
) -> None:
    assert script_path(exe, args, cwd, paths) == expected


def test_non_utf8_script_name_comes_back_byte_exact() -> None:
    found = script_path("/usr/bin/python3", (b"python3", b"\xff\xfe.py"), "/w", [])
    assert found is not None and found.encode("utf-8", "surrogateescape") == b"/w/\xff\xfe.py"


def test_absolute_path_is_lexical() -> None:
    assert absolute_path("../../x", "/a") == "/x"
    assert absolute_path("./b/./c/", "/a") == "/a/b/c"
    assert absolute_path("//a//b/..", None) == "/a"
    assert absolute_path("rel", None) == "rel"
    assert absolute_path("rel", "not-absolute") == "rel"


# --- real logs -----------------------------------------------------------------------------------


def path_names(log: Path) -> dict[tuple[str | None, bytes], list[str | None]]:
    """Every event's PATH names in item order, read by exectrail's own record reader."""
    items: dict[tuple[str | None, bytes], dict[int, str | None]] = {}
    for record in read_records([log], Diagnostics()):
        if record.type == "PATH":
            fields = split_fields(record.body)
            name = fields.get(b"name")
            items.setdefault((record.node, record.key), {})[int(fields[b"item"])] = (
                None if name is None else decode_text(name)
            )
    return {key: [names[i] for i in sorted(names)] for key, names in items.items()}


def event_key(event: ExecEvent) -> tuple[str | None, bytes]:
    ms = event.time.microsecond // 1000
    return event.node, f"{int(event.time.timestamp())}.{ms:03d}:{event.serial}".encode()


def manifest_cases(log: Path) -> dict[str, dict[str, object]]:
    manifest = log.parent / (log.name.split(".")[0] + ".manifest.json.gz")
    with gzip.open(manifest, "rt") as handle:
        return {case["name"]: case for case in json.load(handle)["cases"]}


def events_of(log: Path, pid: object) -> list[ExecEvent]:
    return [e for e in read_events([log]) if e.pid == pid]


@pytest.mark.parametrize("log", [ENRICHED, RAW_NODE], ids=["enriched", "raw_node"])
def test_captured_scripts(log: Path) -> None:
    """The workload's #! cases give the script the runner executed (manifest path_hex), whether all
    PATH names are given or item 0 only; its plain execs, fexecve and execveat give none."""
    cases = manifest_cases(log)
    names = path_names(log)
    checked = 0
    for case_name in ("shebang_sh", "shebang_sh_option", "shebang_env_python3", "relative_path", "fexecve",
                      "execveat_dirfd", "odd_exe_name", "argv0_differs"):  # fmt: skip
        case = cases[case_name]
        events = events_of(log, case["pid"])
        described = case["events"]
        assert isinstance(described, list) and len(events) == len(described)
        for index, (event, wanted) in enumerate(zip(events, described, strict=True)):
            # a #! exec: the script is the file the runner executed, as it named it
            if case_name.startswith("shebang") and index == 0:
                expected: str | None = bytes.fromhex(wanted["path_hex"]).decode("utf-8", "surrogateescape")
            elif case_name == "shebang_env_python3":  # then env runs python3 on the script
                expected = bytes.fromhex(wanted["argv_hex"][1]).decode("utf-8", "surrogateescape")
            else:
                expected = None
            all_paths = names[event_key(event)]
            assert all_paths[0] == event.path
            for paths in (all_paths, [event.path]):
                assert script_path(event.exe, event.argv, event.cwd, paths) == expected, (case_name, paths)
            checked += 1
    assert checked == 11


#: every exec event of these logs with a script; every other one has none (read off the raw lines)
PEER_SCRIPTS = {
    # kernel 6.2: item 0 logged twice, then /bin/sh and the loader
    "threathunters-io__laurel/src__testdata__shell-proc-trace.txt": {
        29238: "/home/user/src/laurel/src/testdata/double-fork/test-script.sh"},
    "threathunters-io__laurel/src__testdata__shell-proc-trace-reordered.txt": {
        29238: "/home/user/src/laurel/src/testdata/double-fork/test-script.sh"},
    "threathunters-io__laurel/src__testdata__proc-trace-dpkg-l.txt": {2322543: "/usr/bin/lesspipe"},
    # ALT Linux, aarch64: exe /bin/sh4, #!/bin/sh -efu
    "linux-audit__audit-userspace/auparse__test__test4.log": {25618: "/usr/bin/ld"},
    "threathunters-io__laurel/src__testdata__record-perl-reverse-shell.txt": {},  # perl -e
    "threathunters-io__laurel/src__testdata__shell-proc-trace-confusion.txt": {},  # -csh -c
    "elastic__go-libaudit/aucoalesce__testdata__ubuntu-20.04.6-linux-5.15.0-1034-gcp.yaml.events.log": {},
    "SELinuxProject__selinux/python__sepolgen__tests__test_data__audit.log": {},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PEER_SCRIPTS))
def test_peer_logs(name: str) -> None:
    log = PEER_LOGS / name
    if not log.is_file():
        skip_or_fail(f"peer logs not found at {PEER_LOGS}")
    names = path_names(log)
    events = list(read_events([log]))
    assert events
    for paths_of in (lambda e: names.get(event_key(e), []), lambda e: [] if e.path is None else [e.path]):
        found = {e.serial: script_path(e.exe, e.argv, e.cwd, paths_of(e)) for e in events}
        assert {serial: s for serial, s in found.items() if s is not None} == PEER_SCRIPTS[name]


# --- properties ----------------------------------------------------------------------------------

_WORDS = st.sampled_from(["-c", "-e", "-m", "-", "--", "-S", "-C", "-o", "-W", "-I", "-f", "x.py", "FOO=1",
                          "/bin/sh", "python3", "env", "-S python3 -u", "/dev/fd/3/x", "'", ""])  # fmt: skip
_ARG = st.one_of(st.binary(max_size=12), _WORDS.map(str.encode))
_TEXT = st.one_of(st.none(), st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
                  st.sampled_from(["/usr/bin/env", "/usr/bin/python3", "/bin/bash", "/usr/bin/tclsh",
                                   "/usr/bin/php", "/usr/bin/perl", "/x (deleted)", "/", ""]))  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(exe=_TEXT, args=st.one_of(st.none(), st.lists(_ARG, max_size=80).map(tuple)), cwd=_TEXT,
       paths=st.lists(_TEXT, max_size=5))  # fmt: skip
def test_never_raises(
    exe: str | None, args: tuple[bytes, ...] | None, cwd: str | None, paths: Sequence[str | None]
) -> None:
    found = script_path(exe, args, cwd, paths)
    assert found is None or isinstance(found, str)
    if args is not None and len(args) > MAX_ARGS:  # what lies past the bound changes nothing
        assert found == script_path(exe, (*args[:MAX_ARGS], b"-c", b"other.py"), cwd, paths)


# --- a real process ------------------------------------------------------------------------------


def _shell_argv(pid: int) -> list[bytes]:
    """/proc/PID/cmdline once the process has exec'd the shell (bounded wait)."""
    for _ in range(500):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        if raw.startswith(b"/bin/sh\0"):
            return raw.rstrip(b"\0").split(b"\0")
        time.sleep(0.01)
    raise AssertionError("the child never exec'd")


@pytest.mark.parametrize("through_fd", [False, True], ids=["execve", "fexecve"])
def test_real_shebang_exec(tmp_path: Path, through_fd: bool) -> None:
    """The kernel's argv rewrite on this machine: the script as named at argv[1] (``/dev/fd/N`` through
    fexecve), exe the interpreter; script_path finds it from /proc as it would from the records."""
    script = tmp_path / "waits.sh"
    script.write_text("#!/bin/sh\nread line\n")
    script.chmod(0o755)
    runner = (
        "import os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "os.set_inheritable(fd, True)\n"
        "if sys.argv[2] == '1': os.execve(fd, ['ignored', 'arg'], {})\n"
        "else: os.execv(sys.argv[1], ['x', 'arg'])\n"
    )
    child = subprocess.Popen([sys.executable, "-c", runner, str(script), "1" if through_fd else "0"],
                             stdin=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    try:
        args = tuple(_shell_argv(child.pid))
        exe = os.readlink(f"/proc/{child.pid}/exe")
        cwd = os.readlink(f"/proc/{child.pid}/cwd")
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    assert args[0] == b"/bin/sh" and args[-1] == b"arg"
    if through_fd:  # PATH item 0 is "" for AT_EMPTY_PATH; the shell reads the script by descriptor
        assert re.fullmatch(rb"/dev/fd/[0-9]+", args[1])
        assert script_path(exe, args, cwd, [""]) == args[1].decode()
    else:
        assert args[1] == str(script).encode()
        assert script_path(exe, args, cwd, [str(script)]) == str(script)
