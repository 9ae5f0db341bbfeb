"""Exec storm: what auditing costs, and whether every exec is captured.

    python bench/storm.py [--n 50000] [--workers 2] [--only none auditd daemon multicast plugin laurel]
                          [--store]

N fork+exec of /bin/true from WORKERS processes (a small C loop, compiled here with gcc), in one run:

* ``none``: no audit rules, no collector;
* ``auditd``: the procmon rules + a private auditd (ENRICHED log, backlog 8192);
* ``auditd-raw``: the same writing the RAW log (auditd's cheapest: issue 14's "auditd alone");
* ``daemon``: the procmon rules + ``exectrail watch --mode daemon --format jsonl --output FILE``;
* ``multicast``: the procmon rules + auditd + ``exectrail watch --mode multicast`` writing JSONL;
* ``plugin``: the procmon rules + a private auditd running ``exectrail watch --mode plugin`` as its
  audisp plugin, writing JSONL;
* ``laurel``: the same with Debian's ``laurel`` (the field's JSON anchor) as the plugin, configured
  as the package ships it (``/etc/laurel/config.toml``) but writing below the work directory.
  Needs ``apt-get install laurel``; the scenario is skipped with a line saying so when it is missing.

``watch`` runs with ``--no-store`` (the figures are capture's) and everything else on, as by default:
each event's context, /proc reads and executable hashes included (its ``context:`` summary line, with
the hash cache hit rate, is printed); ``--store`` makes it also write every event to a fresh event
store, as it does by default, to show what storing costs.

The last lines compare collector CPU per exec against issue 14's targets: ``watch`` (daemon) at most
half of auditd + laurel's, and within 25% of auditd alone (RAW).

For each: execs/s, the collectors' CPU seconds during the storm (until their output has caught up),
execs captured vs execs done (counted by parent pid in the JSONL / the audit log), and the kernel
``lost`` counter difference. Needs root; holds the machine-wide kernel lock and puts the kernel audit
state back after each scenario.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from tests.support import compiled  # noqa: E402
from tests.support.auditd_harness import auditd_capture  # noqa: E402
from tests.support.kernel_baseline import clear_rules  # noqa: E402
from tests.support.kernel_lock import kernel_lock  # noqa: E402
from tests.support.live import Auditd  # noqa: E402

from exectrail.kernel.netlink.client import AuditClient  # noqa: E402
from exectrail.kernel.state import KernelState  # noqa: E402

SCENARIOS = ("none", "auditd", "auditd-raw", "daemon", "multicast", "plugin", "laurel")
LAUREL = Path("/usr/sbin/laurel")
LAUREL_CONFIG = Path("/etc/laurel/config.toml")
#: extra ``watch`` options: no store unless ``--store`` (then main() points it at the work dir)
WATCH_ARGS = ["--no-store"]
BACKLOG = 8192
TRUE = "/bin/true"
STORM_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    char *args[] = {"true", NULL}, *env[] = {NULL};
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) { execve("/bin/true", args, env); _exit(127); }
        if (pid < 0) { perror("fork"); return 1; }
        int status;
        waitpid(pid, &status, 0);
    }
    return 0;
}
"""


@dataclass
class Result:
    name: str
    execs: int
    seconds: float
    captured: int | None = None
    collector_cpu: dict[str, float] | None = None
    lost: int = 0
    note: str = ""  # watch's context summary line

    @property
    def cpu_per_exec_us(self) -> float | None:
        """All collectors' CPU per exec done, in microseconds."""
        return None if not self.collector_cpu else sum(self.collector_cpu.values()) / self.execs * 1e6

    @property
    def rate(self) -> float:
        return self.execs / self.seconds


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lost_counter() -> int:
    with AuditClient() as client:
        return client.get_status().lost


def build_helper(workdir: Path) -> Path:
    source, binary = workdir / "storm.c", workdir / "storm"
    source.write_text(STORM_C)
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def storm(helper: Path, n: int, workers: int) -> tuple[float, list[int]]:
    """Run the storm; return wall seconds and the worker pids (the execs' parent pids)."""
    per = n // workers
    start = time.perf_counter()
    procs = [subprocess.Popen([str(helper), str(per)]) for _ in range(workers)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"storm worker failed with {proc.returncode}")
    return time.perf_counter() - start, [p.pid for p in procs]


def wait_for(path: Path, needle: bytes, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and needle in path.read_bytes()[-1_000_000:]):
        if time.monotonic() > deadline:
            raise SystemExit(f"{needle!r} did not reach {path} within {timeout:.0f}s")
        time.sleep(0.1)


def sync(path: Path) -> None:
    marker = f"storm-sync-{uuid.uuid4().hex}"
    subprocess.run(["/usr/bin/true", marker], check=True)
    wait_for(path, marker.encode())


def count_jsonl(path: Path, parents: list[int]) -> int:
    wanted = set(parents)
    count = 0
    with path.open("rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            count += obj.get("ppid") in wanted and obj.get("comm") == "true" and obj.get("success") is True
    return count


def count_log(path: Path, parents: list[int]) -> int:
    pattern = re.compile(rb"type=SYSCALL .*? ppid=(\d+) .*?comm=\"true\"")
    wanted = {str(p).encode() for p in parents}
    with path.open("rb") as fh:
        return sum(1 for line in fh if (m := pattern.search(line)) and m.group(1) in wanted)


class Watch:
    """``exectrail watch`` writing JSONL to a file, in the background."""

    def __init__(self, workdir: Path, mode: str) -> None:
        self.out = workdir / f"watch-{mode}.jsonl"
        cmd = [sys.executable, "-m", "exectrail.cli.main", "watch", "--mode", mode, "--format", "jsonl"]
        cmd += ["--output", str(self.out), "--backlog", str(BACKLOG), *WATCH_ARGS]
        self.err = workdir / f"watch-{mode}.err"
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen(cmd, stderr=err, cwd=ROOT)
        deadline = time.monotonic() + 30
        while b"watching in" not in self.err.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"watch did not start: {self.err.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)

    def context_line(self) -> str:
        """watch's ``context:`` summary line (what its /proc stage did), or ''."""
        lines = self.err.read_text(errors="replace").splitlines()
        return next((line.partition("exectrail: ")[2] or line for line in lines if "context:" in line), "")


def measured(name: str, run: Callable[[], tuple[float, list[int]]], n: int) -> Result:
    lost_before = lost_counter()
    seconds, _ = run()
    return Result(name, n, seconds, lost=lost_counter() - lost_before)


def scenario_none(helper: Path, n: int, workers: int, workdir: Path) -> Result:
    with kernel_lock():
        return measured("none", lambda: storm(helper, n, workers), n)


def scenario_auditd(
    helper: Path, n: int, workers: int, workdir: Path, log_format: str = "ENRICHED"
) -> Result:
    with auditd_capture(log_format, workdir=workdir / f"auditd-{log_format}", backlog_limit=BACKLOG) as cap:
        lost_before, cpu_before = lost_counter(), cpu_seconds(cap.auditd_pid)
        seconds, parents = storm(helper, n, workers)
        cap.sync(timeout=300)
        cpu = {"auditd": cpu_seconds(cap.auditd_pid) - cpu_before}
        lost = lost_counter() - lost_before
    name = "rules + auditd" if log_format == "ENRICHED" else f"rules + auditd ({log_format} log)"
    return Result(name, n, seconds, count_log(cap.log_path, parents), cpu, lost)


def scenario_auditd_raw(helper: Path, n: int, workers: int, workdir: Path) -> Result:
    return scenario_auditd(helper, n, workers, workdir, "RAW")


def scenario_daemon(helper: Path, n: int, workers: int, workdir: Path) -> Result:
    with kernel_lock(), AuditClient() as client:
        snapshot = KernelState.capture(client)
        try:
            watch = Watch(workdir, "daemon")
            try:
                lost_before, cpu_before = lost_counter(), cpu_seconds(watch.proc.pid)
                seconds, parents = storm(helper, n, workers)
                sync(watch.out)
                cpu = {"exectrail": cpu_seconds(watch.proc.pid) - cpu_before}
                lost = lost_counter() - lost_before
            finally:
                watch.stop()
        finally:
            snapshot.restore(client)
    return Result(
        "rules + watch daemon", n, seconds, count_jsonl(watch.out, parents), cpu, lost, watch.context_line()
    )


def scenario_multicast(helper: Path, n: int, workers: int, workdir: Path) -> Result:
    with auditd_capture("ENRICHED", workdir=workdir / "auditd-mc", backlog_limit=BACKLOG) as cap:
        watch = Watch(workdir, "multicast")
        try:
            lost_before = lost_counter()
            cpu_before = {"auditd": cpu_seconds(cap.auditd_pid), "exectrail": cpu_seconds(watch.proc.pid)}
            seconds, parents = storm(helper, n, workers)
            sync(watch.out)
            cap.sync(timeout=300)
            cpu = {
                "auditd": cpu_seconds(cap.auditd_pid) - cpu_before["auditd"],
                "exectrail": cpu_seconds(watch.proc.pid) - cpu_before["exectrail"],
            }
            lost = lost_counter() - lost_before
        finally:
            watch.stop()
    return Result("rules + auditd + watch multicast", n, seconds, count_jsonl(watch.out, parents), cpu, lost)


PROCMON_RULES = (
    ("-a", "always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-k", "procmon"),
    ("-a", "always,exit", "-F", "arch=b32", "-S", "execve,execveat", "-k", "procmon"),
)


def plugin_conf(path: Path, args: str) -> str:
    return f"active = yes\ndirection = out\npath = {path}\ntype = always\nargs = {args}\nformat = string\n"


def with_plugin(name: str, workdir: Path, plugin: str, run: Callable[[Auditd], Result]) -> Result:
    """A private auditd with ``plugin`` as its one plugin, the procmon rules and the backlog set; the
    kernel state (rules included) is put back afterwards."""
    with kernel_lock(), AuditClient() as client:
        snapshot = KernelState.capture(client)
        try:
            clear_rules(client)
            for rule in PROCMON_RULES:
                subprocess.run(["auditctl", *rule], check=True, capture_output=True)
            subprocess.run(["auditctl", "-b", str(BACKLOG)], check=True, capture_output=True)
            auditd = Auditd(workdir / name, {f"{name}.conf": plugin})
            try:
                return run(auditd)
            finally:
                auditd.stop()
        finally:
            snapshot.restore(client)


def plugin_pid(auditd: Auditd, exe: str, timeout: float = 30) -> int:
    """The pid of auditd's plugin child whose command line holds ``exe``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in Path(f"/proc/{auditd.proc.pid}/task/{auditd.proc.pid}/children").read_text().split():
            if exe.encode() in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
        time.sleep(0.05)
    raise SystemExit(f"auditd did not start its plugin {exe}: {auditd.output.read_text(errors='replace')}")


def plugin_storm(
    name: str, helper: Path, n: int, workers: int, auditd: Auditd, plugin: int, out: Path
) -> tuple[float, list[int], dict[str, float], int]:
    """The storm with auditd and its plugin ``plugin`` writing ``out``; both caught up after."""
    lost_before = lost_counter()
    cpu_before = {"auditd": cpu_seconds(auditd.proc.pid), name: cpu_seconds(plugin)}
    seconds, parents = storm(helper, n, workers)
    sync(out)
    cpu = {"auditd": cpu_seconds(auditd.proc.pid) - cpu_before["auditd"]}
    cpu[name] = cpu_seconds(plugin) - cpu_before[name]
    return seconds, parents, cpu, lost_counter() - lost_before


def scenario_plugin(helper: Path, n: int, workers: int, workdir: Path) -> Result:
    out = workdir / "plugin.jsonl"
    wrapper = workdir / "exectrail-plugin"
    wrapper.write_text(  # the plugin runs the hot path this bench names, whatever auditd passes on
        f"#!/bin/sh\ncd {ROOT}\n{hot_path_variables()}"
        f'exec {sys.executable} -m exectrail.cli.main "$@" --format jsonl '
        f"--output {out} {' '.join(WATCH_ARGS)} 2>>{workdir}/plugin.err\n"
    )
    wrapper.chmod(0o750)

    def run(auditd: Auditd) -> Result:
        pid = plugin_pid(auditd, "exectrail")
        wait_for(workdir / "plugin.err", b"watching in plugin mode")
        seconds, parents, cpu, lost = plugin_storm("exectrail", helper, n, workers, auditd, pid, out)
        return Result("rules + auditd + plugin watch", n, seconds, count_jsonl(out, parents), cpu, lost)

    return with_plugin("plugin", workdir, plugin_conf(wrapper, "watch --mode=plugin"), run)


def hot_path_variables() -> str:
    """Shell lines exporting this process's PYTHONPATH and EXECTRAIL_PURE (those that are set)."""
    return "".join(
        f"export {name}={shlex.quote(os.environ[name])}\n"
        for name in ("PYTHONPATH", "EXECTRAIL_PURE")
        if name in os.environ
    )


def laurel_config(directory: Path) -> str:
    """The package's configuration, writing below ``directory`` as root, one file that never rotates."""
    lines = []
    for line in LAUREL_CONFIG.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "directory":
            line = f'directory = "{directory}"'
        elif key == "user":
            continue  # stays root: the work directory is root's
        elif key == "size":
            line = "size = 100000000000"
        lines.append(line)
    return "\n".join(lines) + "\n"


def count_laurel(path: Path, parents: list[int]) -> int:
    wanted = set(parents)
    count = 0
    with path.open("rb") as fh:
        for line in fh:
            syscall = orjson.loads(line).get("SYSCALL") or {}
            count += syscall.get("ppid") in wanted and syscall.get("comm") == "true"
    return count


def scenario_laurel(helper: Path, n: int, workers: int, workdir: Path) -> Result | None:
    if not (LAUREL.exists() and LAUREL_CONFIG.exists()):
        print("  laurel: skipped (apt-get install laurel)", flush=True)
        return None
    directory = workdir / "laurel-out"  # workdir/laurel is auditd's
    directory.mkdir()
    config = workdir / "laurel.toml"
    config.write_text(laurel_config(directory))
    out = directory / "audit.log"

    def run(auditd: Auditd) -> Result:
        pid = plugin_pid(auditd, str(LAUREL))
        sync(out)
        seconds, parents, cpu, lost = plugin_storm("laurel", helper, n, workers, auditd, pid, out)
        return Result("rules + auditd + laurel", n, seconds, count_laurel(out, parents), cpu, lost)

    return with_plugin("laurel", workdir, plugin_conf(LAUREL, f"--config {config}"), run)


RUNNERS: dict[str, Callable[[Path, int, int, Path], Result | None]] = {
    "none": scenario_none,
    "auditd": scenario_auditd,
    "auditd-raw": scenario_auditd_raw,
    "daemon": scenario_daemon,
    "multicast": scenario_multicast,
    "plugin": scenario_plugin,
    "laurel": scenario_laurel,
}


def report(results: list[Result]) -> None:
    base = next((r.rate for r in results if r.name == "none"), None)
    print(f"\n{'scenario':<34} {'execs/s':>8} {'vs none':>8} {'captured':>15} {'lost':>6}  collector CPU s")
    for r in results:
        share = f"{r.rate / base:.0%}" if base else "-"
        captured = "-" if r.captured is None else f"{r.captured}/{r.execs}"
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in (r.collector_cpu or {}).items()) or "-"
        per = "" if r.cpu_per_exec_us is None else f"  ({r.cpu_per_exec_us:.0f} µs/exec)"
        print(f"{r.name:<34} {r.rate:>8.0f} {share:>8} {captured:>15} {r.lost:>6}  {cpu}{per}")
    for r in results:
        if r.note:
            print(f"{r.name}: {r.note}")
    by_name = {r.name: r for r in results}
    watch = by_name.get("rules + watch daemon")
    raw = by_name.get("rules + auditd (RAW log)")
    laurel = next((r for r in results if r.name.startswith("rules + auditd + laurel")), None)
    if watch is not None and watch.cpu_per_exec_us is not None:
        for anchor, target, label in ((laurel, 0.5, "auditd + laurel"), (raw, 1.25, "auditd alone (RAW)")):
            if anchor is not None and anchor.cpu_per_exec_us:
                ratio = watch.cpu_per_exec_us / anchor.cpu_per_exec_us
                verdict = "met" if ratio <= target else "NOT met"
                print(f"watch CPU/exec vs {label}: {ratio:.2f}x (target ≤ {target:.2f}x: {verdict})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000, help="execs per scenario (default 50000)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent exec loops (default 2)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--store", action="store_true", help="watch also stores every event (--db)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("storm.py needs root", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="exectrail-storm-") as tmp:
        workdir = Path(tmp)
        helper = build_helper(workdir)
        if args.store:
            WATCH_ARGS[:] = ["--db", str(workdir / "storm.db")]
        print(f"{args.n} fork+exec of {TRUE} from {args.workers} workers per scenario; backlog {BACKLOG}")
        print(f"exectrail {compiled.hot_path()}")
        for name in args.only:
            result = RUNNERS[name](helper, args.n, args.workers, workdir)
            if result is None:
                continue
            print(f"  {result.name}: {result.rate:.0f} execs/s, lost {result.lost}", flush=True)
            results.append(result)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
