"""The README's first command, run as a user would on a stock Debian 12 (minbase, root, no python3)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import uuid
from typing import IO, Any

import pytest

from tests.support.freshroot import PYPI, FreshRoot, require_network
from tests.support.install import VERSION, copy_tree, kernel_guard
from tests.support.paths import README

pytestmark = [pytest.mark.freshroot, pytest.mark.kernel]

SOURCE = "/root/exectrail"


def readme_first_command() -> tuple[str, str]:
    """The first ```sh block of README.md, split into its install part and the ``exectrail ...`` run."""
    block = re.search(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert block, "README.md has no ```sh block"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"the README's first command is one line: {lines}"
    install, _, run = lines[0].rpartition("&&")
    assert install.strip() and run.strip().startswith("exectrail "), lines[0]
    return install.strip(), run.strip()


def timed(root: FreshRoot, command: str) -> float:
    started = time.monotonic()
    root.sh(f"cd {SOURCE} && {command}", timeout=900)
    return time.monotonic() - started


class Lines:
    """Lines of a pipe, collected by a thread."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.lines: list[bytes] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(pipe), daemon=True)
        self.thread.start()

    def has(self, needle: bytes) -> bool:
        return any(needle in line for line in list(self.lines))

    def text(self) -> str:
        return b"".join(self.lines).decode(errors="replace")


def wait_for(lines: Lines, needle: bytes, process: subprocess.Popen[bytes], what: str, errors: Lines) -> None:
    deadline = time.monotonic() + 60
    while not lines.has(needle):
        assert process.poll() is None, f"watch exited {process.returncode}: {errors.text()}"
        assert time.monotonic() < deadline, f"{what}: {errors.text()}"
        time.sleep(0.05)


def watch_sees_a_marker(root: FreshRoot, run: str) -> dict[str, Any]:
    """``run`` (the README's ``exectrail watch``, exactly) in the root, its stdout a pipe (jsonl), while a
    second chroot process execs a unique marker; then SIGTERM. Returns the marker's event."""
    marker = f"exectrail-freshroot-{uuid.uuid4().hex}"
    with kernel_guard():
        watch = root.popen(["bash", "-c", f"exec {run}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert watch.stdout is not None and watch.stderr is not None
            out, err = Lines(watch.stdout), Lines(watch.stderr)
            wait_for(err, b"watching in ", watch, "watch did not start", err)
            root.run(["/bin/sh", "-c", f"exec /bin/true {marker}"])
            wait_for(out, marker.encode(), watch, "the marker exec did not reach watch's output", err)
            watch.send_signal(signal.SIGTERM)
            watch.wait(timeout=60)
            out.thread.join(timeout=10)
            err.thread.join(timeout=10)
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait(timeout=30)
    assert watch.returncode == 0, f"watch exited {watch.returncode}: {err.text()}"
    events = [json.loads(line) for line in out.lines if line.strip()]
    found = [event for event in events if marker in (event.get("argv") or [])]
    assert len(found) == 1, f"the marker exec is not once among watch's {len(events)} events: {err.text()}"
    event: dict[str, Any] = found[0]
    return event


def test_readme_first_command(root: FreshRoot) -> None:
    install, run = readme_first_command()
    require_network(PYPI)  # install.sh's pip reads PyPI
    assert root.run(["sh", "-c", "command -v python3"], check=False).returncode != 0, "minbase has no python3"
    copy_tree(root.host(SOURCE))

    cold = timed(root, install)
    warm = timed(root, install)
    print(f"freshroot: {install!r} cold {cold:.1f} s, again (idempotent) {warm:.1f} s")
    assert warm < cold

    assert root.sh("command -v exectrail").stdout.strip() == "/usr/local/bin/exectrail"
    assert root.sh("readlink -f /usr/local/bin/exectrail").stdout.strip() == "/opt/exectrail/bin/exectrail"
    venv_python = root.sh("readlink -f /opt/exectrail/bin/python3").stdout.strip()
    assert venv_python.startswith("/usr/bin/python3"), f"the venv is Debian's python3, not {venv_python}"
    # nothing went into the system Python: no pip there, no exectrail there
    assert root.run(["python3", "-c", "import exectrail"], check=False).returncode != 0
    assert root.run(["python3", "-m", "pip", "--version"], check=False).returncode != 0
    assert not list(root.host("/usr/lib/python3/dist-packages").glob("exectrail*"))
    assert not list(root.host("/usr/local/lib").glob("python3*/dist-packages/exectrail*"))
    # installed, not linked to the source tree
    located = root.run(["/opt/exectrail/bin/python3", "-c", "import exectrail; print(exectrail.__file__)"])
    assert located.stdout.startswith("/opt/exectrail/lib/"), located.stdout

    started = time.monotonic()
    event = watch_sees_a_marker(root, run)
    seconds = time.monotonic() - started
    print(f"freshroot: {run!r} saw the marker exec in {seconds:.1f} s (kernel lock wait included)")
    assert event["success"] is True and event["argv"] == ["/bin/true", event["argv"][1]], event

    # the install stands on its own: the clone can go
    root.run(["rm", "-rf", SOURCE])
    version, hot_path = root.run(["exectrail", "--version"]).stdout.splitlines()
    assert version.split()[-1] == VERSION
    # a stock root has no C compiler: the build falls back to the pure-Python hot path and says so
    assert hot_path == "hot path: pure Python (installed without compiling it)", hot_path
