"""The fixtures of the install-like-a-user tests (fresh Debian 12 roots, the .deb, signals unwinding
like Ctrl-C); they and the helpers live in :mod:`tests.support.install`."""

from __future__ import annotations

from tests.support.install import deb_file, root

__all__ = ["deb_file", "root"]
