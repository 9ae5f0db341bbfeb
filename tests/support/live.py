"""Helpers for live-capture kernel tests: a private auditd, a running ``exectrail watch``, the workload.

None of these take the kernel lock: the ``kernel`` fixture holds it for the whole test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exectrail.kernel.netlink.client import AuditClient
from tests.support.auditd_harness import auditd_conf
from tests.support.kernel import EXECTRAIL, LIVE, refuse
from tests.support.paths import REPO


def auditd_pid() -> int:
    with AuditClient() as client:
        return client.get_status().pid


class Auditd:
    """``auditd -n -c CONFDIR`` with a throw-away configuration (log in ``workdir``)."""

    def __init__(self, workdir: Path, plugins: dict[str, str] | None = None) -> None:
        auditd = shutil.which("auditd") or shutil.which("auditd", path="/usr/sbin:/sbin")
        if auditd is None:
            refuse("needs auditd (apt-get install auditd)")
        self.workdir = workdir
        self.log = workdir / "audit.log"
        confdir = workdir / "conf"
        plugin_dir = confdir / "plugins.d"
        plugin_dir.mkdir(mode=0o750, parents=True)
        for name, text in (plugins or {}).items():
            (plugin_dir / name).write_text(text)
            (plugin_dir / name).chmod(0o640)
        conf = confdir / "auditd.conf"
        conf.write_text(auditd_conf(self.log, plugin_dir, log_format="RAW", max_restarts=3))
        conf.chmod(0o640)
        self.output = workdir / "auditd.out"
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [auditd, "-n", "-c", str(confdir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        while auditd_pid() != self.proc.pid:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"auditd did not start: {self.output.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def running_auditd(workdir: Path, plugins: dict[str, str] | None = None) -> Iterator[Auditd]:
    auditd = Auditd(workdir, plugins)
    try:
        yield auditd
    finally:
        auditd.stop()


class WatchProcess:
    """``exectrail watch --format jsonl --output FILE [args]`` in the background; its journal in
    ``workdir/state``, its store (unless ``--db``/``--no-store`` is given) ``workdir/events.db``."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.out = workdir / "watch.jsonl"
        self.db = workdir / "events.db"
        self.env = {
            **os.environ,
            "EXECTRAIL_STATE_DIR": str(workdir / "state"),
            "EXECTRAIL_DB": str(self.db),
        }
        cmd = [*EXECTRAIL, "watch", "--format", "jsonl", "--output", str(self.out), *args]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=self.env)
        LIVE.append(self.proc)
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.wait_stderr("watching in ")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_stderr(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.stderr):
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"watch exited {self.proc.returncode}: {''.join(self.stderr)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} on watch's stderr: {''.join(self.stderr)}")
            time.sleep(0.05)

    def sync(self, timeout: float = 60) -> None:
        """Exec a marker and wait for its event in the output: everything before is there too."""
        wait_for_exec_marker(self.out, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def objects(self) -> list[dict[str, Any]]:
        return read_jsonl(self.out)

    def events(self) -> list[dict[str, Any]]:
        return [o for o in self.objects() if o.get("type", "exec") == "exec"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(errors="surrogateescape").splitlines() if line]


def wait_for_exec_marker(out: Path, timeout: float = 60) -> None:
    marker = f"exectrail-sync-{uuid.uuid4().hex}"
    subprocess.run(["/usr/bin/true", marker], check=True)
    deadline = time.monotonic() + timeout
    while not (out.exists() and marker in out.read_text(errors="replace")):
        if time.monotonic() > deadline:
            raise AssertionError(f"marker exec did not reach {out} within {timeout}s")
        time.sleep(0.05)


def run_workload(workdir: Path, processes: int = 4, chain: int = 5) -> dict[str, Any]:
    """Run the exec workload (tricky argv, failed exec, b32, fexecve, concurrency); return its manifest."""
    manifest = workdir / "manifest.json"
    cmd = [sys.executable, "-m", "tests.support.workload.run", "--manifest", str(manifest)]
    cmd += ["--workdir", str(workdir / "workload")]
    cmd += ["--processes", str(processes), "--chain", str(chain)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    if proc.returncode != 0:
        if "gcc" in proc.stderr:
            refuse(f"cannot build the workload helpers: {proc.stderr[-500:]}")
        raise AssertionError(f"workload failed: {proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(manifest.read_text())
    return result
