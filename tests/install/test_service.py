"""The installed unit's service, run in a stock root the way systemd would run it (minbase has no init).

systemd is not PID 1 here, so the test does what systemd does for ``exectrail.service``: it creates
the unit's RuntimeDirectory/StateDirectory/LogsDirectory with their modes, sets the matching
``*_DIRECTORY`` variables, its Environment= and UMask, runs ExecStart with stdin on /dev/null, and
between a SIGKILL and the restart (``Restart=on-failure``) removes the runtime directory unless
``RuntimeDirectoryPreserve`` keeps it.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.freshroot import FreshRoot
from tests.support.install import install_deb, kernel_guard

pytestmark = [pytest.mark.freshroot, pytest.mark.kernel]

UNIT = "/lib/systemd/system/exectrail.service"
DIRECTORIES = {"RuntimeDirectory": "/run", "StateDirectory": "/var/lib", "LogsDirectory": "/var/log"}
DB = "/var/lib/exectrail/events.db"


@dataclass
class Service:
    """The [Service] settings of a unit file that matter to run it by hand."""

    settings: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, text: str) -> Service:
        service, section = cls(), ""
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith(("#", ";")):
                key, _, value = line.partition("=")
                service.settings[key.strip()] = value.strip()
                if key.strip() == "Environment":
                    for item in shlex.split(value):
                        name, _, setting = item.partition("=")
                        service.environment[name] = setting
        return service

    def command(self) -> list[str]:
        return shlex.split(self.settings["ExecStart"])

    def directories(self) -> dict[str, tuple[str, int]]:
        """``*_DIRECTORY`` variable -> (path, mode), as systemd makes them before ExecStart."""
        made = {}
        for setting, base in DIRECTORIES.items():
            if setting in self.settings:
                mode = int(self.settings.get(f"{setting}Mode", "0755"), 8)
                variable = setting.removesuffix("Directory").upper() + "_DIRECTORY"
                made[variable] = (f"{base}/{self.settings[setting]}", mode)
        return made

    def preserves_runtime_directory(self) -> bool:
        return self.settings.get("RuntimeDirectoryPreserve", "no") in {"yes", "restart"}


def start(root: FreshRoot, service: Service, log: Path) -> subprocess.Popen[bytes]:
    """ExecStart as systemd runs it; waits until watch says it is watching."""
    env = dict(service.environment)
    for variable, (path, mode) in service.directories().items():
        root.host(path).mkdir(parents=True, exist_ok=True)
        root.host(path).chmod(mode)
        env[variable] = path
    umask = service.settings.get("UMask", "0022")
    script = f"umask {umask} && exec {shlex.join(service.command())}"
    with log.open("wb") as out:
        process = root.popen(["sh", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while b"watching in " not in log.read_bytes():
        assert process.poll() is None, f"the service exited {process.returncode}: {log.read_text()}"
        assert time.monotonic() < deadline, f"the service did not start: {log.read_text()}"
        time.sleep(0.05)
    return process


def stored(root: FreshRoot, *args: str) -> list[dict[str, Any]]:
    """What a query command finds in the service's store (``alarms`` exits 3 when it finds some)."""
    result = root.run(["exectrail", *args, "--db", DB, "--format", "jsonl"], check=False)
    assert result.returncode in {0, 3}, result
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wait_stored(root: FreshRoot, marker: str) -> None:
    deadline = time.monotonic() + 60
    while not stored(root, "search", "--argv-contains", marker):
        assert time.monotonic() < deadline, f"the marker exec {marker} never reached {DB}"
        time.sleep(0.5)


def test_service_runs_watch_from_the_config_and_reports_being_killed(
    root: FreshRoot, deb_file: Path, tmp_path: Path
) -> None:
    install_deb(root, deb_file)
    service = Service.read(root.host(UNIT).read_text())
    assert service.command()[:2] == ["/usr/bin/exectrail", "watch"]
    assert "--no-show" in service.command() and "/etc/exectrail/exectrail.toml" in service.command()
    marker = f"exectrail-service-{uuid.uuid4().hex}"
    with kernel_guard():
        first = start(root, service, tmp_path / "first.log")
        try:
            root.run(["/bin/sh", "-c", f"exec /bin/true {marker}"])
            wait_stored(root, marker)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(timeout=30)
        if not service.preserves_runtime_directory():  # systemd removes it when the unit stops
            subprocess.run(["rm", "-rf", str(root.host("/run/exectrail"))], check=True)
        second = start(root, service, tmp_path / "second.log")
        try:
            deadline = time.monotonic() + 60
            while not stored(root, "alarms"):
                assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
                time.sleep(0.5)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0, (tmp_path / "second.log").read_text()
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(timeout=30)
    [alarm] = stored(root, "alarms")
    assert alarm["kind"] == "collector-killed" and alarm["details"]["pid"] == first.pid, alarm
    assert marker not in (tmp_path / "first.log").read_text(), "--no-show: no events on the service's output"
