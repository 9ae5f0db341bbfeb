"""Compile the hot path with mypyc where the build can (see packaging/build/exectrail_build.py).

Everything else about the package is in pyproject.toml; this file only adds the extension modules:
the modules named by ``HOT_MODULES`` in src/exectrail/hotpath.py, read from the source (the package
is not importable while it is being built).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

from setuptools import setup

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "packaging" / "build"))

import exectrail_build  # noqa: E402


def hot_modules() -> list[str]:
    """``HOT_MODULES`` as written in src/exectrail/hotpath.py."""
    tree = ast.parse((HERE / "src" / "exectrail" / "hotpath.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if not isinstance(node, ast.AnnAssign) or node.value is None:
            continue
        if isinstance(node.target, ast.Name) and node.target.id == "HOT_MODULES":
            return list(ast.literal_eval(node.value))
    raise exectrail_build.BuildModeError("HOT_MODULES not found in src/exectrail/hotpath.py")


def ext_modules() -> list[Any]:
    """The mypyc extensions, or none for a pure-Python build."""
    if exectrail_build.build_mode() == "pure":
        return []
    from mypyc.build import mypycify

    sources = [str(Path("src", *name.split(".")).with_suffix(".py")) for name in hot_modules()]
    return list(mypycify(sources, opt_level="3", debug_level="0", strip_asserts=False))


setup(ext_modules=ext_modules())
