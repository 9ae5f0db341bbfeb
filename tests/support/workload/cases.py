"""The catalogue of exec cases: what each forked child executes and the exec events it must log.

A :class:`Case` is run by ``run.py`` in a child forked by the runner; its ``events`` are the exec
events that pid produces, in order (the manifest stores them with every byte string as hex).
"""

from __future__ import annotations

import errno
import os
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHILD_PATH = b"/usr/bin:/bin"
CHILD_ENV = {b"PATH": CHILD_PATH, b"LC_ALL": b"C"}
TRUE = b"/usr/bin/true"


@dataclass
class Expected:
    """One exec event the case's pid must produce (None for exe/comm: not checked)."""

    path: bytes
    argv: list[bytes] | None
    cwd: bytes
    syscall: str = "execve"
    arch: str = "x86_64"
    error: int = 0  # errno of a failed exec, 0 on success
    exe: bytes | None = None
    comm: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "syscall": self.syscall,
            "arch": self.arch,
            "success": self.error == 0,
            "exit": -self.error,
            "errno": errno.errorcode[self.error] if self.error else None,
            "path_hex": self.path.hex(),
            "exe_hex": None if self.exe is None else self.exe.hex(),
            "comm_hex": None if self.comm is None else self.comm.hex(),
            "cwd_hex": self.cwd.hex(),
            "argc": None if self.argv is None else len(self.argv),
            "argv_hex": None if self.argv is None else [arg.hex() for arg in self.argv],
        }


@dataclass
class Case:
    """What the forked child does (``execve(path, argv)`` or a PATH search) and what it must log."""

    name: str
    description: str
    path: bytes
    argv: list[bytes]
    events: list[Expected]
    cwd: bytes
    child_errno: int = 0  # errno the child's own exec must fail with (0: it must succeed)
    exit_status: int = 0  # final exit status of the process (after all its execs)
    search_path: bytes | None = None  # run os.execvpe with this PATH instead of os.execve
    pid: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, runner_pid: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "pid": self.pid,
            "ppid": runner_pid,
            "cwd_hex": self.cwd.hex(),
            "exit_status": self.exit_status,
            "events": [event.to_json() for event in self.events],
            **self.extra,
        }


def _comm(path: bytes) -> bytes:
    """The kernel's comm for an exec of ``path``: its basename cut to 15 bytes."""
    return os.path.basename(path)[:15]


def _realpath(path: bytes, cwd: bytes) -> bytes:
    return os.path.realpath(os.path.join(cwd, path))


class Catalogue:
    """Builds the cases against a work directory holding the helpers and fixture files."""

    def __init__(self, workdir: Path, helpers: dict[str, bytes]) -> None:
        self.dir = os.fsencode(workdir)
        self.bin = helpers
        self.runner_exe = os.readlink(b"/proc/self/exe")
        self.runner_comm = Path("/proc/self/comm").read_bytes().rstrip(b"\n")
        self._make_fixtures()

    # -- fixtures -------------------------------------------------------------------------------
    def _file(self, name: bytes, content: bytes, mode: int) -> bytes:
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content)
        os.chmod(path, mode)
        return path

    def _make_fixtures(self) -> None:
        true_elf = Path("/usr/bin/true").read_bytes()
        self.true_copy = self._file(b"bin/true-copy", true_elf, 0o755)
        self.odd_name = self._file(b'odd dir/tr\xc3\xbce "q\xff', true_elf, 0o755)
        self.not_executable = self._file(b"not-executable", b"#!/bin/sh\n:\n", 0o644)
        self.garbage = self._file(b"garbage.bin", b"this is not an executable\n\x00\x01\x02", 0o755)
        self.script_sh = self._file(b"script.sh", b"#!/bin/sh\n:\n", 0o755)
        self.script_sh_e = self._file(b"script-e.sh", b"#!/bin/sh -e\n:\n", 0o755)
        self.script_py = self._file(b"script.py", b"#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n", 0o755)
        self.script_bad = self._file(b"bad-interp.sh", b"#!/nonexistent/interpreter\n", 0o755)
        self.odd_cwd = os.path.join(self.dir, b'cwd with space \xff "q"')
        os.makedirs(self.odd_cwd, exist_ok=True)
        self.empty_dir = os.path.join(self.dir, b"a-directory")
        os.makedirs(self.empty_dir, exist_ok=True)

    # -- expectation helpers ----------------------------------------------------------------------
    def ok(self, path: bytes, argv: list[bytes], cwd: bytes, **kw: Any) -> Expected:
        """A successful exec of an ELF file."""
        kw.setdefault("exe", _realpath(path, cwd))
        kw.setdefault("comm", _comm(path))
        return Expected(path, argv, cwd, **kw)

    def failed(self, path: bytes, err: int, cwd: bytes, *, exe: bytes | None = None, **kw: Any) -> Expected:
        """A failed exec: no EXECVE record, comm and exe are the caller's."""
        comm = kw.pop("comm", self.runner_comm if exe is None else _comm(exe))
        return Expected(path, None, cwd, error=err, exe=exe or self.runner_exe, comm=comm, **kw)

    def direct(self, name: str, description: str, argv: list[bytes], path: bytes = TRUE) -> Case:
        cwd = self.dir
        return Case(name, description, path, argv, [self.ok(path, argv, cwd)], cwd)

    def via(self, helper: str, args: list[bytes], then: list[Expected], **kw: Any) -> Case:
        """The child execs a helper (first event) which then produces the ``then`` events."""
        path = self.bin[helper]
        argv = [path, *args]
        name, description = kw.pop("name"), kw.pop("description")
        cwd = kw.pop("cwd", self.dir)
        return Case(name, description, path, argv, [self.ok(path, argv, cwd), *then], cwd, **kw)

    # -- the catalogue ------------------------------------------------------------------------------
    def argument_cases(self) -> list[Case]:
        t = TRUE
        printable = (string.ascii_letters + string.digits + string.punctuation).replace('"', "").encode()
        long20k = (printable * (20000 // len(printable) + 1))[:20000]
        long_max = (printable * (131071 // len(printable) + 1))[:131071]
        many = [t] + [
            b"" if i % 11 == 0 else b"sp %d" % i if i % 7 == 0 else b"arg-%04d" % i for i in range(1, 5001)
        ]
        boundaries = [t] + [(b"%d:" % n + b"x" * n)[:n] for n in (3749, 3750, 3751, 7499, 7500, 7501)]
        return [
            self.direct("simple", "plain exec of /usr/bin/true", [t]),
            self.direct("spaces", "arguments with spaces", [t, b"hello world", b" lead", b"trail ", b"  "]),
            self.direct("double_quotes", 'arguments containing "', [t, b'"', b'say "hi"', b'""', b"it's"]),
            self.direct(
                "tabs_newlines", "tabs, newlines, CR", [t, b"a\tb", b"line1\nline2", b"\r\n", b"\n", b"\t"]
            ),
            self.direct(
                "non_utf8",
                "bytes that are not UTF-8 (latin-1, lone continuation, surrogate)",
                [t, b"\xff", b"caf\xe9", b"\x80\x81\xfe", b"ok\xc3(", b"\xed\xa0\x80", b"\xff\xfe\xfd"],
            ),
            self.direct(
                "utf8",
                "valid UTF-8 beyond ASCII",
                [t, *(s.encode() for s in ("héllo wörld", "日本語", "emoji 🎉", "Ω", "naïve"))],
            ),
            self.direct(
                "control_bytes",
                "control bytes, DEL and the ENRICHED separator 0x1d inside an argument",
                [t, b"\x01", b"\x1b[31mred\x1b[0m", b"\x7f", b"sep\x1dARCH=x86_64", b"bell\x07", b"\\x41"],
            ),
            self.direct("empty_args", "empty arguments between others", [t, b"", b"x", b"", b""]),
            self.direct(
                "field_lookalikes",
                "arguments that look like audit fields or special values",
                [
                    t,
                    b"a=b",
                    b"key=procmon",
                    b"type=EXECVE",
                    b"(null)",
                    b"(none)",
                    b"argc=3",
                    b"a0=x",
                    b"a1_len=10",
                    b"a2[0]=41",
                    b"msg=audit(1700000000.000:1):",
                    b"node=evil",
                    b"=",
                    b"==",
                    b"key=(null)",
                    b"a=b c=d",
                    b'type=EXECVE msg=audit(1.0:2): argc=1 a0="x"',
                    b"DEADBEEF",
                    b"41",
                    b"00",
                ],
            ),
            self.direct("long_20000", "one 20,000-byte printable argument", [t, long20k]),
            self.direct("long_131071", "one 131,071-byte argument (MAX_ARG_STRLEN - 1)", [t, long_max]),
            self.direct(
                "length_boundaries",
                "printable arguments around the kernel's 7500-character record limits",
                boundaries,
            ),
            self.direct("args_5000", "5,000 arguments (mixed quoted, hex, empty)", many),
            self.direct("argv0_differs", "argv[0] unrelated to the path", [b"not-true", b"--flag"]),
            Case(
                "relative_path",
                "exec of ./true-copy relative to the cwd",
                b"./true-copy",
                [b"./true-copy", b"rel"],
                [self.ok(b"./true-copy", [b"./true-copy", b"rel"], os.path.dirname(self.true_copy))],
                os.path.dirname(self.true_copy),
            ),
            self.direct(
                "odd_exe_name", "executable whose name has spaces, quotes, non-UTF-8", [b"odd"], self.odd_name
            ),
            Case(
                "odd_cwd",
                "cwd with a space, a quote and a non-UTF-8 byte",
                t,
                [t, b"in odd cwd"],
                [self.ok(t, [t, b"in odd cwd"], self.odd_cwd)],
                self.odd_cwd,
            ),
        ]

    def failure_cases(self) -> list[Case]:
        d = self.dir

        def fail(name: str, description: str, path: bytes, err: int, argv: list[bytes]) -> Case:
            return Case(name, description, path, argv, [self.failed(path, err, d)], d, child_errno=err)

        missing = b"/nonexistent/exectrail-missing"
        return [
            fail("enoent", "exec of a missing file", missing, errno.ENOENT, [b"missing", b"arg"]),
            fail("eacces_mode", "exec of a file without x bit", self.not_executable, errno.EACCES, [b"nx"]),
            fail("eacces_directory", "exec of a directory", self.empty_dir, errno.EACCES, [b"dir"]),
            fail("enoexec", "exec of a non-ELF file without #!", self.garbage, errno.ENOEXEC, [b"garbage"]),
            fail(
                "shebang_missing_interpreter",
                "script whose #! interpreter does not exist",
                self.script_bad,
                errno.ENOENT,
                [b"bad", b"x"],
            ),
            Case(
                "execvp_path_search",
                "PATH search: two ENOENT attempts, then /usr/bin/true",
                b"true",
                [b"true", b"searched"],
                [
                    self.failed(b"/nonexistent-a/true", errno.ENOENT, d),
                    self.failed(b"/nonexistent-b/true", errno.ENOENT, d),
                    self.ok(TRUE, [b"true", b"searched"], d),
                ],
                d,
                search_path=b"/nonexistent-a:/nonexistent-b:/usr/bin",
            ),
        ]

    def script_cases(self) -> list[Case]:
        d = self.dir

        def script(path: bytes, interp: list[bytes], args: list[bytes]) -> Expected:
            return Expected(path, [*interp, path, *args], d, exe=_realpath(interp[0], d), comm=_comm(path))

        py_args = [b"py arg", b"\xff"]
        return [
            Case(
                "shebang_sh",
                "#!/bin/sh script: the kernel logs the rewritten argv",
                self.script_sh,
                [b"ignored-argv0", b"arg one", b"\xfe"],
                [script(self.script_sh, [b"/bin/sh"], [b"arg one", b"\xfe"])],
                d,
            ),
            Case(
                "shebang_sh_option",
                "#!/bin/sh -e script: interpreter option in the rewritten argv",
                self.script_sh_e,
                [b"ignored-argv0", b"x"],
                [script(self.script_sh_e, [b"/bin/sh", b"-e"], [b"x"])],
                d,
            ),
            Case(
                "shebang_env_python3",
                "#!/usr/bin/env python3: env execs python3 found on PATH",
                self.script_py,
                [b"script.py", *py_args],
                [
                    script(self.script_py, [b"/usr/bin/env", b"python3"], py_args),
                    self.ok(b"/usr/bin/python3", [b"python3", self.script_py, *py_args], d),
                ],
                d,
            ),
        ]

    def helper_cases(self) -> list[Case]:
        d = self.dir
        s32 = self.bin["static32"]
        i386_argv = [b"true", b"from i386", b"\xff\xfe", b"sp ace", b""]
        return [
            self.via(
                "static32",
                [TRUE, *i386_argv],
                [self.ok(TRUE, i386_argv, d, arch="i386")],
                name="i386_static_execve",
                description="32-bit static binary execs /usr/bin/true (arch=40000003 syscall=11)",
            ),
            self.via(
                "static32",
                [b"-f", TRUE, b"true", b"i386 fexecve"],
                [
                    self.ok(
                        b"",
                        [b"true", b"i386 fexecve"],
                        d,
                        arch="i386",
                        syscall="execveat",
                        exe=TRUE,
                        comm=None,
                    )
                ],
                name="i386_static_execveat",
                description="32-bit static binary fexecve()s /usr/bin/true (i386 execveat, syscall 358)",
            ),
            self.via(
                "static32",
                [b"/nonexistent/missing32", b"missing32"],
                [self.failed(b"/nonexistent/missing32", errno.ENOENT, d, arch="i386", exe=s32)],
                name="i386_static_enoent",
                description="32-bit static binary execs a missing file (failed i386 execve)",
                exit_status=127,
            ),
            self.via(
                "argv_empty",
                [TRUE],
                [self.ok(TRUE, [b""], d)],
                name="argv_empty",
                description='execve(path, {NULL}): the kernel passes and logs argc=1 a0=""',
                extra={"argv_requested_hex": []},
            ),
            self.via(
                "fexecve",
                [TRUE, b"true", b"via fexecve"],
                [self.ok(b"", [b"true", b"via fexecve"], d, syscall="execveat", exe=TRUE, comm=None)],
                name="fexecve",
                description='fexecve(): execveat(fd, "", AT_EMPTY_PATH); PATH name is empty',
            ),
            self.via(
                "execveat_dirfd",
                [b"/usr/bin", b"true", b"true", b"via execveat"],
                [self.ok(b"true", [b"true", b"via execveat"], d, syscall="execveat", exe=TRUE)],
                name="execveat_dirfd",
                description='execveat(dirfd=/usr/bin, "true"): PATH name relative to the dirfd',
            ),
            self.via(
                "execveat_dirfd",
                [b"/usr/bin", b"exectrail-no-such-prog", b"x"],
                [
                    self.failed(
                        b"exectrail-no-such-prog",
                        errno.ENOENT,
                        d,
                        syscall="execveat",
                        exe=self.bin["execveat_dirfd"],
                    )
                ],
                name="execveat_dirfd_enoent",
                description="failed execveat relative to a dirfd",
                exit_status=127,
            ),
        ]

    def concurrent_cases(self, processes: int, chain: int) -> list[Case]:
        """``processes`` children released at once, each exec'ing itself ``chain`` more times."""
        path = self.bin["exec_chain"]
        d = self.dir
        cases = []
        for i in range(processes):
            marker = b"concurrent-%d" % i
            events = [self.ok(path, [path, b"%d" % k, marker], d) for k in range(chain, -1, -1)]
            cases.append(
                Case(
                    f"concurrent_{i:03d}",
                    f"one of {processes} processes released together, each {chain + 1} execs",
                    path,
                    [path, b"%d" % chain, marker],
                    events,
                    d,
                    extra={"group": "concurrent"},
                )
            )
        return cases


GROUPS: dict[str, Callable[[Catalogue], list[Case]]] = {
    "arguments": Catalogue.argument_cases,
    "failures": Catalogue.failure_cases,
    "scripts": Catalogue.script_cases,
    "helpers": Catalogue.helper_cases,
}
