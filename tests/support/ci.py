"""In CI (``CI=true``) a test that cannot get the kernel, a server or a mount must fail, not skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI, where every real part must be there."""
    if in_ci():
        pytest.fail(f"needed in CI: {reason}")
    pytest.skip(reason)
