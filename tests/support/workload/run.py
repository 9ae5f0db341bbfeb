"""Run a catalogue of tricky exec cases and write a manifest of exactly what each one executed.

Every case runs in a child the runner forks: the runner records the child's pid before the child
execs, so each case is identified in the audit log by ``(pid, ppid=runner pid)`` with no marker
argument needed. For each case the manifest lists the exec events that pid must produce, in order:
syscall, arch, success/exit, the requested path, exe, comm, cwd and argv -- all byte strings as hex.

    python -m tests.support.workload.run --manifest OUT.json [--workdir DIR] [--only GROUP ...]

from the repository root. The cases are in ``cases.py``. The C helpers next to this file are
compiled into ``WORKDIR/bin`` with gcc (``static32`` with ``gcc -m32 -static``). Nothing here
touches the kernel audit state: run it inside ``tests.support.auditd_harness.auditd_capture()``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.workload.cases import CHILD_ENV, GROUPS, Case, Catalogue

HERE = Path(__file__).resolve().parent
MANIFEST_FORMAT = "exectrail-workload-manifest/1"
HELPERS = {  # name -> extra gcc flags
    "fexecve": (),
    "execveat_dirfd": (),
    "argv_empty": (),
    "exec_chain": (),
    "static32": ("-m32", "-static"),
}


def build_helpers(bin_dir: Path) -> dict[str, bytes]:
    """Compile the C helpers into ``bin_dir``; return name -> absolute path (bytes)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, bytes] = {}
    for name, flags in HELPERS.items():
        target = bin_dir / name
        cmd = ["gcc", *flags, "-O2", "-Wall", "-Werror", "-o", str(target), str(HERE / f"{name}.c")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed (gcc-multilib installed?):\n{proc.stderr}")
        out[name] = os.fsencode(target)
    return out


def _child(case: Case, errpipe: int, gate: tuple[int, int] | None) -> None:
    """In the forked child: wait for the gate, chdir and exec; report errno on failure."""
    try:
        if gate is not None:
            os.close(gate[1])
            os.read(gate[0], 1)
        os.chdir(case.cwd)
        if case.search_path is not None:
            os.execvpe(case.path, case.argv, {**CHILD_ENV, b"PATH": case.search_path})
        os.execve(case.path, case.argv, CHILD_ENV)
    except OSError as exc:
        os.write(errpipe, str(exc.errno).encode())
    except BaseException:
        os.write(errpipe, b"-1")
    finally:
        os._exit(127)


def _spawn(case: Case, gate: tuple[int, int] | None = None) -> tuple[int, int]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(case, write_end, gate)
    os.close(write_end)
    case.pid = pid
    return pid, read_end


def _reap(case: Case, pid: int, read_end: int) -> list[str]:
    report = b""
    while chunk := os.read(read_end, 64):
        report += chunk
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    got_errno = int(report) if report else 0
    problems = []
    if got_errno != case.child_errno:
        problems.append(f"{case.name}: child exec errno {got_errno}, expected {case.child_errno}")
    exit_status = os.waitstatus_to_exitcode(status)
    expected_status = 127 if case.child_errno else case.exit_status
    if exit_status != expected_status:
        problems.append(f"{case.name}: exit status {exit_status}, expected {expected_status}")
    return problems


def run_cases(cases: Sequence[Case], concurrent: Sequence[Case]) -> list[str]:
    """Run ``cases`` one after another, then ``concurrent`` all released at once."""
    problems: list[str] = []
    for case in cases:
        problems += _reap(case, *_spawn(case))
    if concurrent:
        gate_r, gate_w = os.pipe()
        started = [(case, *_spawn(case, (gate_r, gate_w))) for case in concurrent]
        os.close(gate_r)
        time.sleep(0.2)  # let every child reach its read() of the gate
        os.close(gate_w)  # EOF releases them all at once
        for case, pid, read_end in started:
            problems += _reap(case, pid, read_end)
    return problems


def run_workload(
    manifest_path: Path,
    workdir: Path,
    *,
    groups: Sequence[str] = (*GROUPS, "concurrent"),
    processes: int = 16,
    chain: int = 10,
) -> dict[str, Any]:
    """Build helpers and fixtures in ``workdir``, run the selected groups, write the manifest."""
    helpers = build_helpers(workdir / "bin")
    catalogue = Catalogue(workdir, helpers)
    cases = [case for group in groups if group in GROUPS for case in GROUPS[group](catalogue)]
    concurrent = catalogue.concurrent_cases(processes, chain) if "concurrent" in groups else []
    problems = run_cases(cases, concurrent)
    if problems:
        raise RuntimeError("workload did not behave as expected:\n" + "\n".join(problems))
    runner_pid = os.getpid()
    manifest = {
        "format": MANIFEST_FORMAT,
        "runner": {
            "pid": runner_pid,
            "exe_hex": catalogue.runner_exe.hex(),
            "comm_hex": catalogue.runner_comm.hex(),
        },
        "uid": os.getuid(),
        "gid": os.getgid(),
        "kernel": platform.release(),
        "workdir_hex": os.fsencode(workdir).hex(),
        "child_env": {k.decode(): v.decode() for k, v in CHILD_ENV.items()},
        "cases": [case.to_json(runner_pid) for case in [*cases, *concurrent]],
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="where to write the JSON manifest")
    parser.add_argument("--workdir", type=Path, help="helpers and fixtures (default: a new temp dir)")
    parser.add_argument(
        "--only", nargs="+", choices=[*GROUPS, "concurrent"], help="run only these groups of cases"
    )
    parser.add_argument("--processes", type=int, default=16, help="concurrent processes")
    parser.add_argument("--chain", type=int, default=10, help="extra execs per concurrent process")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="exectrail-workload-"))
    workdir.mkdir(parents=True, exist_ok=True)
    groups = args.only or [*GROUPS, "concurrent"]
    manifest = run_workload(args.manifest, workdir, groups=groups, processes=args.processes, chain=args.chain)
    events = sum(len(case["events"]) for case in manifest["cases"])
    print(f"{len(manifest['cases'])} cases, {events} exec events, runner pid {os.getpid()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if not shutil.which("gcc"):
        sys.exit("run.py: gcc is not installed")
    sys.exit(main())
