"""The Debian package, built once per test session by ``scripts/build-deb.sh`` and extracted
(:mod:`tests.support.deb`).

Building needs Debian's /usr/bin/python3 (3.11, python3-venv), dpkg-deb and PyPI (for the
dependencies and click-man): without them these tests skip on a developer's machine and fail in CI.
The kernel tests here use the ``kernel`` fixture of tests/kernel (lock, snapshot, restore).
"""

from __future__ import annotations

from tests.support.deb import deb
from tests.support.kernel import kernel

__all__ = ["deb", "kernel"]
