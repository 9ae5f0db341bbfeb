"""A private auditd that tests can stop, kill, restart and interfere with, and a kernel restore.

:func:`kernel_session` holds the machine-wide kernel lock, snapshots the whole kernel audit state
(status and every rule, through exectrail's netlink client) and, on leaving -- normally, by an
exception or by SIGTERM/SIGHUP -- kills any auditd it started, puts back exactly that state and then
checks with ``auditctl -s`` / ``auditctl -l`` (an observer independent of exectrail) that the state
is what it was. It never sets failure mode 2 nor ``enabled 2``.

:class:`Auditd` runs ``auditd -n -c CONFDIR`` with a throw-away configuration (log in a temporary
directory, ENRICHED by default, no halting disk actions, no plugins). ``start`` can be called again
after ``stop``/``kill``: auditd appends to the same log, as it does on a real host.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn

from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.state import KernelState
from tests.support.auditd_harness import auditd_conf, terminate
from tests.support.ci import skip_or_fail
from tests.support.kernel_baseline import clear_rules
from tests.support.kernel_lock import kernel_lock

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
OBSERVED = ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time")
PROCMON_RULES: tuple[tuple[str, ...], ...] = (
    ("always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-k", "procmon"),
    ("always,exit", "-F", "arch=b32", "-S", "execve,execveat", "-k", "procmon"),
)
TRUE = "/usr/bin/true"


def refuse(reason: str) -> NoReturn:
    """Skip on a developer machine, FAIL in CI: a CI run must prove the kernel tests ran."""
    skip_or_fail(f"kernel: {reason}")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc


def auditctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(tool("auditctl"), *args, check=check)


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        refuse(f"{name} is not installed (apt-get install auditd)")
    return found


def observe() -> dict[str, object]:
    """The audit state as auditctl reports it (status fields and the rule listing)."""
    state: dict[str, object] = {}
    for line in auditctl("-s").stdout.splitlines():
        name, _, value = line.partition(" ")
        if name in OBSERVED:
            state[name] = int(value)
    state["rules"] = auditctl("-l").stdout
    return state


def audit_state_tool() -> str | None:
    """The project's read-only ``audit-state`` reading (one JSON line), when the tool is there."""
    path = "/work/shared/tools/audit-state"
    if not os.access(path, os.X_OK):
        return None
    return run(path, check=False).stdout.strip()


@dataclass
class Auditd:
    """One auditd configuration; ``start``/``stop``/``kill`` as often as a test needs."""

    workdir: Path
    log_format: str = "ENRICHED"
    max_log_file: int = 4096
    max_log_file_action: str = "IGNORE"
    num_logs: int = 4
    proc: subprocess.Popen[bytes] | None = None
    confdir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.confdir = Path(tempfile.mkdtemp(prefix="conf-", dir=self.workdir))
        plugin_dir = self.confdir / "plugins.d"
        plugin_dir.mkdir(mode=0o750)
        conf = self.confdir / "auditd.conf"
        conf.write_text(
            auditd_conf(
                self.log_path,
                plugin_dir,
                log_format=self.log_format,
                freq=20,
                max_log_file=self.max_log_file,
                num_logs=self.num_logs,
                max_log_file_action=self.max_log_file_action,
            )
        )
        conf.chmod(0o640)

    @property
    def log_path(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def logs(self) -> list[Path]:
        """``audit.log`` and its rotations, oldest first."""
        rotated = sorted(self.workdir.glob("audit.log.*"), key=lambda p: -int(p.name.rsplit(".", 1)[1]))
        return [*rotated, self.log_path] if self.log_path.exists() else rotated

    def log_text(self) -> bytes:
        """The logs' bytes, oldest first; read again when auditd renamed a file while they were read
        (a rotation moves audit.log.N to audit.log.N+1 between the listing and the read)."""
        for _ in range(50):
            try:
                return b"".join(p.read_bytes() for p in self.logs())
            except FileNotFoundError:
                time.sleep(0.01)
        return b"".join(p.read_bytes() for p in self.logs())

    def start(self) -> None:
        """Start auditd and wait until it is registered and has written a new DAEMON_START."""
        starts = self.log_text().count(b"type=DAEMON_START")
        with (self.workdir / "auditd.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [tool("auditd"), "-n", "-c", str(self.confdir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                out_text = (self.workdir / "auditd.out").read_text(errors="replace")
                raise AssertionError(f"auditd exited with {self.proc.returncode}: {out_text[-800:]}")
            registered = AuditClientStatus.pid() == self.proc.pid
            if registered and self.log_text().count(b"type=DAEMON_START") > starts:
                return
            if time.monotonic() > deadline:
                raise AssertionError("auditd did not register with the kernel within 20s")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (auditd writes DAEMON_END) and wait."""
        if self.proc is not None:
            terminate(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no DAEMON_END reaches the log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def sync(self, timeout: float = 30.0) -> str:
        """Exec a marker and wait until its event is in the log: everything before it is too."""
        marker = f"exectrail-sync-{uuid.uuid4().hex}"
        subprocess.run([TRUE, marker], check=True)
        self.wait_for(f'"{marker}"'.encode(), timeout)
        return marker

    def mark(self, timeout: float = 30.0) -> str:
        """Like :meth:`sync` without needing exec rules: a user message (``auditctl -m``)."""
        marker = f"exectrail-mark-{uuid.uuid4().hex}"
        auditctl("-m", marker)
        self.wait_for(marker.encode(), timeout)
        return marker

    def wait_for(self, needle: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} did not reach {self.log_path} within {timeout:.0f}s")
            time.sleep(0.05)

    def add_procmon_rules(self) -> None:
        for rule in PROCMON_RULES:
            auditctl("-a", *rule)


class AuditClientStatus:
    """Short-lived status reads (a fresh socket each time, nothing kept open)."""

    @staticmethod
    def pid() -> int:
        with AuditClient() as client:
            return client.get_status().pid

    @staticmethod
    def lost() -> int:
        with AuditClient() as client:
            return client.get_status().lost


@contextmanager
def _signals_raise() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


@contextmanager
def kernel_session(workdir: Path, **auditd_options: object) -> Iterator[Auditd]:
    """Hold the kernel lock, snapshot, yield an (unstarted) :class:`Auditd`; restore and verify."""
    if os.geteuid() != 0:
        refuse("needs root")
    tool("auditd")
    with kernel_lock(), _signals_raise():
        try:
            client = AuditClient()
            snapshot = KernelState.capture(client)
        except Exception as exc:  # the kernel refuses: no audit, no permission
            refuse(f"kernel audit subsystem not usable: {exc}")
        if snapshot.status.enabled == 2:
            client.close()
            refuse("the audit configuration is immutable (enabled=2)")
        if snapshot.status.pid and os.path.exists(f"/proc/{snapshot.status.pid}"):
            client.close()
            refuse(f"another audit daemon (pid {snapshot.status.pid}) is registered")
        before = observe()
        daemon = Auditd(workdir, **auditd_options)  # type: ignore[arg-type]
        try:
            clear_rules(client)
            yield daemon
        finally:
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
            try:
                daemon.stop()
                snapshot.restore(client)
            finally:
                client.close()
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        after = observe()
    assert after == before, f"kernel audit state not restored: before {before}, after {after}"


def send_user_message(msg_type: int, text: str) -> None:
    """Send a user-space audit message (like systemd's SERVICE_STOP) through the kernel, which logs
    it with the sender's pid, uid, auid and ses."""
    import socket
    import struct

    payload = text.encode() + b"\0"
    header = struct.pack("=LHHLL", 16 + len(payload), msg_type, 0x1 | 0x4, 1, 0)  # REQUEST | ACK
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9) as sock:
        sock.settimeout(5)
        sock.send(header + payload)
        reply = sock.recv(65536)
    err = struct.unpack_from("=i", reply, 16)[0] if len(reply) >= 20 else 0
    if err:
        raise OSError(-err, f"audit user message refused: {os.strerror(-err)}")


SERVICE_STOP = 1131
AUDITD_STOP_TEXT = (
    'unit=auditd comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success'
)
