"""Maintainer scripts and the logrotate hook, run for real (in a private mount namespace, so that
/var/lib, /var/log, /run and /etc/systemd/system are throw-away tmpfs and nothing of the host moves)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.ci import skip_or_fail
from tests.support.deb import Deb

#: Run the package's maintainer scripts as dpkg would, with no init, and report what they left.
LIFECYCLE = r"""
set -e
for d in /var/lib /var/log /run /etc/systemd/system; do mkdir -p "$d"; mount -t tmpfs tmpfs "$d"; done
report() { echo "$1: $(stat -c '%n %a %U' /var/lib/exectrail /var/log/exectrail 2>&1 | tr '\n' ' ')"; }
mkdir -p /run/exectrail
"$CONTROL/postinst" configure
report configure
echo data > /var/lib/exectrail/events.db
"$CONTROL/postinst" configure 0.0.9
report upgrade
"$CONTROL/prerm" remove
"$CONTROL/postrm" remove
report remove
echo "remove kept store: $(cat /var/lib/exectrail/events.db)"
"$CONTROL/postrm" purge
report purge
[ -e /run/exectrail ] && echo "purge left /run/exectrail" || echo "purge removed /run/exectrail"
"""


def control_dir(deb: Deb, tmp_path: Path) -> Path:
    control = tmp_path / "DEBIAN"
    subprocess.run(["dpkg-deb", "-e", str(deb.path), str(control)], check=True)
    return control


def test_maintainer_scripts_are_posix_sh_with_set_e(deb: Deb, tmp_path: Path) -> None:
    control = control_dir(deb, tmp_path)
    for name in ("postinst", "prerm", "postrm"):
        script = control / name
        assert os.access(script, os.X_OK)
        text = script.read_text()
        assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text, name
        assert "systemctl start" not in text and "invoke-rc.d" not in text, name
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_state_is_made_0700_and_removed_only_on_purge(deb: Deb, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        skip_or_fail("maintainer scripts need root and unshare (a private mount namespace)")
    control = control_dir(deb, tmp_path)
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", LIFECYCLE],
        capture_output=True,
        text=True,
        env={**os.environ, "CONTROL": str(control)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    both = "/var/lib/exectrail 700 root /var/log/exectrail 700 root"
    assert lines[0].strip() == f"configure: {both}"
    assert lines[1].strip() == f"upgrade: {both}"
    assert lines[2].strip() == f"remove: {both}"
    assert lines[3] == "remove kept store: data"
    assert "No such file" in lines[4] and "700" not in lines[4], lines[4]
    assert lines[5] == "purge removed /run/exectrail"


def postrotate(deb: Deb) -> str:
    text = (deb.root / "etc/logrotate.d/exectrail").read_text()
    match = re.search(r"\bpostrotate\n(.*?)\n\s*endscript", text, re.S)
    assert match, text
    return match.group(1)


HUP_RECORDER = """
import signal, sys, time
signal.signal(signal.SIGHUP, lambda *_: open(sys.argv[1], "a").write("HUP\\n"))
print("ready", flush=True)
time.sleep(60)
"""


def test_logrotate_file_rotates_the_plugin_jsonl(deb: Deb) -> None:
    text = (deb.root / "etc/logrotate.d/exectrail").read_text()
    assert text.startswith("# ") and "/var/log/exectrail/exec.jsonl {" in text
    for directive in ("compress", "delaycompress", "missingok", "notifempty", "create 0600 root root"):
        assert re.search(rf"^\s*{directive}$", text, re.M), directive
    if shutil.which("logrotate"):
        check = subprocess.run(
            ["logrotate", "-d", str(deb.root / "etc/logrotate.d/exectrail")], capture_output=True, text=True
        )
        assert check.returncode == 0 and "error" not in check.stderr.lower(), check.stderr


@pytest.mark.parametrize("plugin_args", [["--mode=plugin"], ["--mode", "plugin"]])
def test_postrotate_signals_plugin_watches_only(deb: Deb, tmp_path: Path, plugin_args: list[str]) -> None:
    """SIGHUP re-opens a plugin watch's file but stops any other watch: only the first may get it.
    The hook's loop over /proc is narrowed to the two test processes (other watches may be running)."""
    procs = {}
    for name, args in (("plugin", plugin_args), ("daemon", ["--mode", "daemon"])):
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", HUP_RECORDER, str(tmp_path / name), "/usr/bin/exectrail", "watch", *args],
            stdout=subprocess.PIPE,
            text=True,
        )
    try:
        for proc in procs.values():
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        only_ours = " ".join(f"/proc/{p.pid}" for p in procs.values())
        script = postrotate(deb).replace("/proc/[0-9]*", only_ours)
        assert only_ours in script
        subprocess.run(["sh", "-c", script], check=True, timeout=30)
        deadline = time.monotonic() + 10
        while not (tmp_path / "plugin").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert (tmp_path / "plugin").read_text() == "HUP\n"
        assert not (tmp_path / "daemon").exists()
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
