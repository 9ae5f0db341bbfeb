"""The install-like-a-user tests' harness: fresh Debian 12 roots, the .deb, a kernel guard.

Every test module of tests/install is marked ``freshroot`` (select with ``-m freshroot``), and ``kernel`` too
where it touches the kernel audit state. What they need (root, debootstrap, the archive, the kernel)
is skipped on a developer machine and FAILS in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exectrail.errors import KernelAuditError
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.state import KernelState
from tests.support.ci import skip_or_fail
from tests.support.freshroot import PYPI, STOCK_SHELL_ENV, FreshRoot, fresh_root, require_network
from tests.support.kernel_baseline import clear_rules
from tests.support.kernel_lock import kernel_lock
from tests.support.paths import REPO

VERSION: str = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
EXECTRAIL = [sys.executable, "-m", "exectrail.cli.main"]
NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive"}


@pytest.fixture
def root() -> Iterator[FreshRoot]:
    """A fresh stock Debian 12 minbase root (nothing of another test's installs)."""
    with fresh_root() as fresh:
        yield fresh


IGNORED = (".git", ".venv", "build", "dist", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis")


def copy_tree(destination: Path) -> None:
    """The work tree as a user would have it after a clone (tracked and new files, nothing ignored);
    without git (a tree from a tarball) everything but caches and build output."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        shutil.copytree(REPO, destination, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, map(os.fsdecode, listed)):
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)


@pytest.fixture(scope="session")
def deb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bash scripts/build-deb.sh`` run on the host, into a private directory (not the shared dist/)."""
    if os.geteuid() != 0 or shutil.which("dpkg-deb") is None:
        skip_or_fail("freshroot: building the .deb needs root and dpkg-deb")
    require_network(PYPI)  # the package's Python dependencies come from PyPI
    out = tmp_path_factory.mktemp("deb")
    result = subprocess.run(
        ["bash", "scripts/build-deb.sh", "--out-dir", str(out)],
        cwd=REPO,
        env=STOCK_SHELL_ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"build-deb.sh exited {result.returncode}: {result.stderr[-3000:]}"
    built = out / f"exectrail_{VERSION}_amd64.deb"
    assert built.is_file(), f"build-deb.sh made no {built}: {result.stdout[-2000:]}"
    return built


def install_deb(root: FreshRoot, deb_file: Path) -> float:
    """``apt-get update && apt-get install -y ./exectrail_*.deb`` in /root, as the README says; seconds."""
    shutil.copyfile(deb_file, root.host(f"/root/{deb_file.name}"))
    started = time.monotonic()
    root.sh(f"cd /root && apt-get update && apt-get install -y ./{deb_file.name}", env=NONINTERACTIVE)
    return time.monotonic() - started


def observe() -> dict[str, object]:
    """The audit state as the host's auditctl reports it (an observer independent of exectrail)."""
    state: dict[str, object] = {}
    for line in subprocess.run(
        ["auditctl", "-s"], capture_output=True, text=True, check=True
    ).stdout.splitlines():
        name, _, value = line.partition(" ")
        if name in ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time"):
            state[name] = int(value)
    state["rules"] = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout
    return state


@contextmanager
def kernel_guard() -> Iterator[None]:
    """The host's kernel lock for a block that touches audit state from inside a root. After the
    block, the host's auditctl must see the state as it was (what exectrail in the root undid on its
    own); then, even on failure, the snapshot is restored and checked again."""
    if shutil.which("auditctl") is None:
        skip_or_fail("freshroot: the host needs auditctl to check the kernel state (apt-get install auditd)")
    with kernel_lock():
        try:
            client = AuditClient()
            snapshot = KernelState.capture(client)
        except KernelAuditError as exc:
            skip_or_fail(f"freshroot: kernel audit: {exc}")
        try:
            if snapshot.status.enabled == 2:
                skip_or_fail("freshroot: the audit configuration is immutable (enabled=2)")
            found = observe()
            try:
                clear_rules(client)
                before = observe()
                yield
                left = observe()
            finally:
                snapshot.restore(client)
        finally:
            client.close()
        assert observe() == found, "kernel audit state not restored"
        assert left == before, "exectrail in the root left the kernel audit state changed"
