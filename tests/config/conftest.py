"""The kernel fixture of tests/kernel (lock, snapshot, restore) for the one live run here."""

from __future__ import annotations

from tests.support.kernel import kernel

__all__ = ["kernel"]
