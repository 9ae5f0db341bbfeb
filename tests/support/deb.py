"""The Debian package, built once per test session by ``scripts/build-deb.sh`` and extracted.

Building needs Debian's /usr/bin/python3 (3.11, python3-venv), dpkg-deb and PyPI (for the
dependencies and click-man): without them the tests skip on a developer's machine and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ci import skip_or_fail
from tests.support.freshroot import STOCK_SHELL_ENV
from tests.support.paths import REPO


@dataclass(frozen=True)
class Deb:
    """A built package: the file, its extracted data tree and how long the build took."""

    path: Path
    root: Path
    seconds: float

    def field(self, name: str) -> str:
        return subprocess.run(
            ["dpkg-deb", "-f", str(self.path), name], capture_output=True, text=True, check=True
        ).stdout.strip()


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Deb:
    for tool in ("/usr/bin/python3", shutil.which("dpkg-deb")):
        if tool is None or not os.path.exists(tool):
            skip_or_fail(f"building the package needs {tool or 'dpkg-deb'}")
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    build = subprocess.run(
        ["bash", str(REPO / "scripts/build-deb.sh"), "--out-dir", str(out)],
        env=STOCK_SHELL_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - started
    if build.returncode != 0:
        pytest.fail(f"build-deb.sh exited {build.returncode}: {build.stdout}{build.stderr}")
    (path,) = out.glob("exectrail_*_amd64.deb")
    root = out / "root"
    subprocess.run(["dpkg-deb", "-x", str(path), str(root)], check=True)
    return Deb(path, root, seconds)
