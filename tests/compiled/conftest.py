"""The compiled hot path (tests/support/compiled.py): built once per session, shared by its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import compiled


@pytest.fixture(scope="session")
def compiled_build() -> Path:
    """build/compiled: this tree compiled by mypyc (built again when a build input changed)."""
    return compiled.build()
