"""Run a private auditd with the procmon rules, and put the kernel back exactly as it was.

``auditd_capture()`` holds :func:`tests.support.kernel_lock.kernel_lock` for its whole life. It
snapshots the kernel audit status, starts ``auditd -n -c CONFDIR`` with a throw-away configuration
(log file in a temporary directory, no disk actions that halt or suspend, no plugins), raises the
backlog, installs the procmon rules with ``auditctl`` and yields a :class:`Capture`. On exit -- normal,
exception, SIGINT, SIGTERM or SIGHUP -- it waits until everything queued has reached the log, deletes
exactly the rules it added, stops auditd (SIGTERM, then DAEMON_END) and restores enabled, failure,
rate_limit, backlog_limit and backlog_wait_time. It never sets failure 2 or enabled 2.

The context manager must not be nested (the kernel lock is a plain flock).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from tests.support.kernel_lock import kernel_lock

PROCMON_KEY = "procmon"
PROCMON_RULES: tuple[tuple[str, ...], ...] = (
    ("always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-k", PROCMON_KEY),
    ("always,exit", "-F", "arch=b32", "-S", "execve,execveat", "-k", PROCMON_KEY),
)
STATUS_FIELDS = ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost", "backlog_wait_time")
RESTORED_FIELDS = ("enabled", "failure", "rate_limit", "backlog_limit", "backlog_wait_time")
TRUE = "/usr/bin/true"


class HarnessError(RuntimeError):
    """The kernel audit subsystem or auditd cannot be used for a capture."""


class KernelUnavailable(HarnessError):
    """This machine cannot run a capture (not root, tools missing, immutable, foreign daemon)."""


class _Interrupted(BaseException):
    """Raised from a SIGTERM/SIGHUP handler so that the restoring ``finally`` runs."""


def tool(name: str) -> str:
    """Absolute path of an audit tool (auditctl, auditd, ausearch), also outside $PATH's sbin."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise HarnessError(f"{name} is not installed (apt-get install auditd)")
    return found


def auditctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run auditctl; raise :class:`HarnessError` with its message when ``check`` and it fails."""
    proc = subprocess.run([tool("auditctl"), *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise HarnessError(f"auditctl {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def read_status() -> dict[str, int]:
    """The kernel audit status as ``auditctl -s`` reports it (enabled, failure, pid, …)."""
    status: dict[str, int] = {}
    for line in auditctl("-s").stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            status[parts[0]] = int(parts[1])
    missing = [name for name in STATUS_FIELDS if name not in status]
    if missing:
        raise HarnessError(f"auditctl -s did not report {missing}")
    return status


def list_rules() -> list[str]:
    """The loaded audit rules as ``auditctl -l`` lines (empty list for "No rules")."""
    lines = auditctl("-l").stdout.splitlines()
    return [line for line in lines if line.strip() and line.strip() != "No rules"]


def pid_alive(pid: int) -> bool:
    return pid > 0 and os.path.exists(f"/proc/{pid}")


def usability_problem(*, check_daemon: bool = True) -> str | None:
    """Why a capture cannot run here (not root, tools missing, kernel refuses), or None.

    ``check_daemon`` also refuses when another audit daemon is registered; check that only while
    holding the kernel lock (another test may be running its daemon until it releases the lock).
    """
    if os.geteuid() != 0:
        return "kernel audit tests need root"
    try:
        for name in ("auditd", "auditctl"):
            tool(name)
        status = read_status()
    except (HarnessError, OSError, subprocess.SubprocessError) as exc:
        return f"kernel audit subsystem not usable: {exc}"
    if status["enabled"] == 2:
        return "kernel audit configuration is immutable (enabled=2)"
    if check_daemon and status["pid"] and pid_alive(status["pid"]):
        return f"another audit daemon (pid {status['pid']}) is registered with the kernel"
    return None


#: auditd.conf for a private, test-only auditd: no disk action may halt or suspend it.
AUDITD_DEFAULTS: dict[str, str] = {
    "local_events": "yes", "write_logs": "yes", "log_group": "root", "log_format": "ENRICHED",
    "flush": "INCREMENTAL_ASYNC", "freq": "50", "max_log_file": "1024", "num_logs": "2",
    "priority_boost": "4", "name_format": "NONE", "max_log_file_action": "IGNORE", "space_left": "2",
    "space_left_action": "IGNORE", "verify_email": "no", "action_mail_acct": "root",
    "admin_space_left": "1", "admin_space_left_action": "IGNORE", "disk_full_action": "IGNORE",
    "disk_error_action": "IGNORE", "use_libwrap": "no", "tcp_listen_queue": "5", "tcp_max_per_addr": "1",
    "tcp_client_max_idle": "0", "transport": "TCP", "distribute_network": "no", "q_depth": "90000",
    "overflow_action": "IGNORE", "max_restarts": "10", "end_of_event_timeout": "2",
}  # fmt: skip


def auditd_conf(log_file: Path, plugin_dir: Path, **settings: object) -> str:
    """The text of an auditd.conf: :data:`AUDITD_DEFAULTS` with ``settings`` on top."""
    conf = {**AUDITD_DEFAULTS, "log_file": str(log_file), "plugin_dir": str(plugin_dir)}
    conf.update((name, str(value)) for name, value in settings.items())
    return "".join(f"{name} = {value}\n" for name, value in conf.items())


@dataclass
class Capture:
    """A running capture: where the log is and how to wait for it to catch up."""

    workdir: Path
    log_path: Path
    auditd_pid: int
    status_before: dict[str, int]
    rules_before: list[str]
    node: str | None
    added_rules: list[tuple[str, ...]] = field(default_factory=list)
    lost_during: int | None = None  # kernel "lost" counter difference, set on exit
    status_after: dict[str, int] = field(default_factory=dict)
    rules_after: list[str] = field(default_factory=list)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_contains(self, needle: bytes, start: int = 0) -> bool:
        """Whether ``needle`` is in the log at or after byte offset ``start``."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(start)
                return needle in fh.read()
        except FileNotFoundError:
            return False

    def wait_for(self, needle: bytes, timeout: float = 30.0, start: int = 0) -> None:
        """Block until ``needle`` appears in the log file (auditd flushes asynchronously)."""
        deadline = time.monotonic() + timeout
        while not self.log_contains(needle, start):
            if time.monotonic() > deadline:
                raise HarnessError(f"{needle!r} did not reach {self.log_path} within {timeout:.0f}s")
            time.sleep(0.05)

    def sync(self, timeout: float = 60.0) -> None:
        """Exec a marker command and wait until its event is in the log: everything before is too."""
        start = self.log_size()
        marker = f"exectrail-sync-{uuid.uuid4().hex}"
        subprocess.run([TRUE, marker], check=True, env={"PATH": "/usr/bin:/bin"})
        self.wait_for(f'"{marker}"'.encode(), timeout, start)


def _write_conf(confdir: Path, log_path: Path, log_format: str, node: str | None, max_log_mb: int) -> Path:
    plugin_dir = confdir / "plugins.d"
    plugin_dir.mkdir(mode=0o750)
    conf = confdir / "auditd.conf"
    naming = {"name_format": "USER", "name": node} if node else {}
    conf.write_text(
        auditd_conf(log_path, plugin_dir, log_format=log_format, max_log_file=max_log_mb, **naming)
    )
    conf.chmod(0o640)
    return conf


def _spawn_auditd(confdir: Path, workdir: Path) -> subprocess.Popen[bytes]:
    with (workdir / "auditd.out").open("wb") as out:
        return subprocess.Popen(
            [tool("auditd"), "-n", "-c", str(confdir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_registered(proc: subprocess.Popen[bytes], log_path: Path, workdir: Path) -> None:
    """Wait until auditd is the kernel's audit daemon and has written DAEMON_START."""
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            output = (workdir / "auditd.out").read_text(errors="replace").strip()
            raise HarnessError(f"auditd exited with {proc.returncode}: {output[-800:]}")
        started = log_path.exists() and b"DAEMON_START" in log_path.read_bytes()
        if started and read_status()["pid"] == proc.pid:
            return
        if time.monotonic() > deadline:
            raise HarnessError("auditd did not register with the kernel within 15s")
        time.sleep(0.05)


def terminate(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM ``proc`` (auditd then writes DAEMON_END), wait, SIGKILL if it will not go; reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _add_rules(rules: Sequence[tuple[str, ...]], capture: Capture) -> None:
    for rule in rules:
        proc = auditctl("-a", *rule, check=False)
        if proc.returncode == 0:
            capture.added_rules.append(rule)
        elif "exists" in (proc.stderr + proc.stdout).lower():
            continue  # somebody else's identical rule: use it, never delete it
        else:
            raise HarnessError(f"auditctl -a {' '.join(rule)}: {(proc.stderr or proc.stdout).strip()}")


def _restore(before: dict[str, int]) -> list[str]:
    """Put back the status fields we may have changed; return what could not be restored."""
    errors: list[str] = []
    now = read_status()
    setters = {
        "failure": "-f",
        "rate_limit": "-r",
        "backlog_limit": "-b",
        "backlog_wait_time": "--backlog_wait_time",
        "enabled": "-e",  # last: enabled 0 stops everything else from being logged
    }
    for name, flag in setters.items():
        value = before[name]
        if name in ("enabled", "failure") and value not in (0, 1):  # never 2 (immutable / panic)
            errors.append(f"refusing to set {name}={value}")
            continue
        if now.get(name) != value:
            proc = auditctl(flag, str(value), check=False)
            if proc.returncode != 0:
                errors.append(f"auditctl {flag} {value}: {proc.stderr.strip()}")
    return errors


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception (main thread only) so ``finally`` blocks run."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Defer SIGINT/SIGTERM/SIGHUP while the kernel state is being restored."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def auditd_capture(
    log_format: str = "ENRICHED",
    *,
    workdir: Path | None = None,
    node: str | None = None,
    rules: Sequence[tuple[str, ...]] = PROCMON_RULES,
    backlog_limit: int = 16384,
    max_log_mb: int = 4096,
) -> Iterator[Capture]:
    """Capture with a private auditd; yields a :class:`Capture` whose ``log_path`` fills up.

    ``log_format`` is ``ENRICHED`` or ``RAW``; ``node`` sets ``name_format = USER`` so every record
    starts with ``node=NAME``. ``workdir`` (default: a new temporary directory, kept) holds the conf
    dir and the log. Raises :class:`KernelUnavailable` when this machine cannot capture at all and
    :class:`HarnessError` when something fails on the way.
    """
    if log_format not in ("ENRICHED", "RAW"):
        raise ValueError(f"log_format must be ENRICHED or RAW, not {log_format!r}")
    problem = usability_problem(check_daemon=False)
    if problem:
        raise KernelUnavailable(problem)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="exectrail-auditd-"))
    workdir.mkdir(parents=True, exist_ok=True)
    confdir = Path(tempfile.mkdtemp(prefix="conf-", dir=workdir))
    log_path = workdir / "audit.log"
    with kernel_lock(), _signals_raise():
        problem = usability_problem()  # now also: no other audit daemon may be registered
        if problem:
            raise KernelUnavailable(problem)
        before = read_status()
        capture = Capture(workdir, log_path, 0, before, list_rules(), node)
        _write_conf(confdir, log_path, log_format, node, max_log_mb)
        proc: subprocess.Popen[bytes] | None = None
        ok = False
        try:
            proc = _spawn_auditd(confdir, workdir)
            capture.auditd_pid = proc.pid
            _wait_registered(proc, log_path, workdir)
            if backlog_limit > before["backlog_limit"]:
                auditctl("-b", str(backlog_limit))
            _add_rules(rules, capture)
            yield capture
            ok = True
        finally:
            with _signals_blocked():
                errors = _teardown(capture, proc, flush=ok)
            if errors and not ok:
                print(f"auditd_harness: restore problems: {'; '.join(errors)}", file=sys.stderr)
        if errors:
            raise HarnessError("; ".join(errors))


def _teardown(capture: Capture, proc: subprocess.Popen[bytes] | None, *, flush: bool) -> list[str]:
    """Flush, delete our rules, stop auditd, restore the status; every step runs even if one fails."""
    errors: list[str] = []

    def step(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            errors.append(f"{what}: {exc}")

    if flush and proc is not None and proc.poll() is None:
        step("sync", capture.sync)
    for rule in reversed(capture.added_rules):
        step(f"auditctl -d {' '.join(rule)}", functools.partial(auditctl, "-d", *rule))
    if proc is not None:
        step("stopping auditd", lambda: terminate(proc))
        with suppress(HarnessError):
            capture.wait_for(b"DAEMON_END", timeout=5)
    step("restore", lambda: errors.extend(_restore(capture.status_before)))
    step("verify", lambda: errors.extend(_verify(capture)))
    return errors


def _verify(capture: Capture) -> list[str]:
    """Record the final state on ``capture``; return how it differs from the snapshot."""
    errors = []
    capture.status_after = read_status()
    capture.rules_after = list_rules()
    capture.lost_during = capture.status_after["lost"] - capture.status_before["lost"]
    for name in RESTORED_FIELDS:
        if capture.status_after[name] != capture.status_before[name]:
            errors.append(f"{name} is {capture.status_after[name]}, was {capture.status_before[name]}")
    if capture.status_after["pid"] and pid_alive(capture.status_after["pid"]):
        errors.append(f"audit pid {capture.status_after['pid']} still registered")
    if sorted(capture.rules_after) != sorted(capture.rules_before):
        errors.append(f"rules differ: before {capture.rules_before}, after {capture.rules_after}")
    return errors


def log_lines(path: Path) -> int:
    """Number of lines in a log file."""
    count = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
    return count
