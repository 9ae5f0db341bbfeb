"""The .deb built from the tree, installed with apt on a stock Debian 12 (minbase root, no init)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from exectrail.cli.main import cli
from tests.support.freshroot import FreshRoot
from tests.support.install import EXECTRAIL, NONINTERACTIVE, VERSION, install_deb
from tests.support.paths import REPO

pytestmark = pytest.mark.freshroot

LOG = REPO / "tests/data/workload_enriched.log"
UNIT = "/lib/systemd/system/exectrail.service"


def test_deb_installs_with_apt(root: FreshRoot, deb_file: Path) -> None:
    seconds = install_deb(root, deb_file)
    size = deb_file.stat().st_size
    print(f"freshroot: {deb_file.name} is {size} bytes; apt-get update + install {seconds:.1f} s")

    # dependencies came from the archive; the maintainer scripts ran without an init
    assert "install ok installed" in root.run(["dpkg-query", "-W", "-f=${Status}", "exectrail"]).stdout
    for package in ("python3", "auditd"):
        assert "install ok installed" in root.run(["dpkg-query", "-W", "-f=${Status}", package]).stdout
    assert root.sh("command -v exectrail").stdout.strip() == "/usr/bin/exectrail"
    version, hot_path = root.run(["exectrail", "--version"]).stdout.splitlines()
    # the package ships the hot path compiled: the target host needs no compiler
    assert version.split()[-1] == VERSION and hot_path.startswith("hot path: compiled (mypyc"), hot_path
    state = root.host("/var/lib/exectrail").stat()
    assert stat.S_ISDIR(state.st_mode) and stat.S_IMODE(state.st_mode) == 0o700 and state.st_uid == 0

    # review reads a real log in the root exactly as the development install does on the host (the
    # log's host named for both: the root has a machine id of its own)
    shutil.copyfile(LOG, root.host("/root/audit.log"))
    review = ["review", "--format", "jsonl", "--host-id", "the-log-host"]
    expected = subprocess.run(
        [*EXECTRAIL, *review, str(LOG)], capture_output=True, check=True, timeout=120
    ).stdout
    reviewed = root.run(["exectrail", *review, "/root/audit.log"])
    assert len(expected.splitlines()) > 100
    assert reviewed.stdout.encode() == expected

    # the shipped configuration is valid; the plugin conf is there, inactive
    assert root.run(["exectrail", "config", "check", "/etc/exectrail/exectrail.toml"]).returncode == 0
    plugin = root.host("/etc/audit/plugins.d/exectrail.conf").read_text()
    assert "active = no" in plugin and "path = /usr/bin/exectrail" in plugin

    # minbase has no systemd (and no man): install them to verify the unit and find the pages
    root.apt_install("systemd", "man-db")
    verify = root.run(["systemd-analyze", "verify", UNIT], check=False)
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, ""), verify
    security = root.run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT], check=False)
    score = security.stdout.strip().splitlines()[-1] if security.stdout.strip() else security.stderr
    print(f"freshroot: systemd-analyze security: {score}")
    assert root.run(["man", "-w", "exectrail"]).stdout.strip() == "/usr/share/man/man8/exectrail.8.gz"
    for command in sorted(cli.commands):
        page = root.run(["man", "-w", f"exectrail-{command}"], check=False)
        assert page.returncode == 0, f"no man page for exectrail {command}: {page.stderr}"

    # remove keeps the state and the configuration; purge deletes them
    root.host("/var/lib/exectrail/events.db").write_bytes(b"kept")
    root.run(["apt-get", "remove", "-y", "exectrail"], env=NONINTERACTIVE)
    assert root.host("/var/lib/exectrail/events.db").read_bytes() == b"kept"
    assert root.host("/etc/exectrail/exectrail.toml").is_file()
    assert not root.host("/usr/bin/exectrail").exists()
    root.run(["apt-get", "purge", "-y", "exectrail"], env=NONINTERACTIVE)
    for gone in ("/var/lib/exectrail", "/etc/exectrail", "/opt/exectrail", UNIT):
        assert not root.host(gone).exists(), f"{gone} is left after purge"
