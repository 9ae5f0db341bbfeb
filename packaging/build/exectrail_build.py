"""exectrail's build backend: setuptools, with the hot path compiled by mypyc where it can be.

``EXECTRAIL_BUILD`` chooses:

* ``auto`` (the default): compile when a C compiler and Python's headers are here, else build pure
  Python and say so on standard error;
* ``compiled``: compile, or stop with one line naming what is missing (the Debian package uses it);
* ``pure``: never compile (the editable install of the tests uses it; the compiled copy is built
  apart, see tests/support/compiled.py).

When compiling, mypyc (of the pinned mypy) and the packages the hot modules import are added to what
the build needs, so an isolated build (pip's default) has them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from exectrail_compiler import compiler_missing
from setuptools.build_meta import *  # noqa: F403 (the PEP 517/660 hooks not wrapped here)

MODE_VARIABLE = "EXECTRAIL_BUILD"
MODES = ("auto", "compiled", "pure")
#: mypyc and what mypy must see to type-check the hot modules (they import orjson and rich).
COMPILE_REQUIRES = ["mypy==2.4.1", "orjson>=3.8", "rich>=13", "click>=8.1"]


class BuildModeError(SystemExit):
    """A build that cannot go on: one line, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"exectrail build: {message}")


def build_mode() -> str:
    """``compiled`` or ``pure``: ``EXECTRAIL_BUILD`` resolved against this machine."""
    mode = os.environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise BuildModeError(f"{MODE_VARIABLE}={mode!r} is not one of {', '.join(MODES)}")
    if mode == "pure":
        return "pure"
    missing = compiler_missing()
    if missing is None:
        return "compiled"
    if mode == "compiled":
        raise BuildModeError(f"cannot compile the hot path: {missing}")
    print(f"exectrail build: {missing}: installing the pure-Python hot path", file=sys.stderr)
    return "pure"


def _requires() -> list[str]:
    # What setuptools itself asks for ("wheel"), without running setup.py as it would: setup.py
    # imports mypyc, which is what this answer brings.
    return ["wheel", *(COMPILE_REQUIRES if build_mode() == "compiled" else [])]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return _requires()


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    return _requires()
