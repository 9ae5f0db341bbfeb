"""The compiled hot path for the tests: this tree built by mypyc into build/compiled, once per source.

    python -m tests.support.compiled      # build (or keep) it; scripts/test.sh runs this before pytest

The editable install of the tests is pure Python (``EXECTRAIL_BUILD=pure``); this copy is built with
``EXECTRAIL_BUILD=compiled`` from a clean copy of the tree by the project's own build (pip, setup.py,
packaging/build), so a build that breaks fails here. It is built again only when a build input
changes (a stamp of their hashes). :func:`env` gives the environment that runs it, or the pure
source with ``EXECTRAIL_PURE=1``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.paths import REPO

TARGET = REPO / "build" / "compiled"
STAMP = TARGET / ".exectrail-build-stamp"
#: what the build reads from the tree
INPUTS = ("pyproject.toml", "setup.py", "README.md", "packaging/build", "src")


def _input_files() -> list[Path]:
    files: list[Path] = []
    for item in INPUTS:
        path = REPO / item
        if path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        else:
            files.append(path)
    return sorted(files)


def stamp() -> str:
    """A hash of every build input and of the Python that builds."""
    digest = hashlib.sha256(sys.version.encode())
    for path in _input_files():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_fresh() -> bool:
    return STAMP.is_file() and STAMP.read_text() == stamp()


def copy_inputs(tree: Path) -> Path:
    """A clean copy of the build inputs in ``tree`` (no caches, no compiled leftovers)."""
    tree.mkdir(parents=True)
    for item in INPUTS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, tree / item, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            shutil.copy2(source, tree / item)
    return tree


def pip_install(tree: Path, target: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The project's own build of ``tree`` installed into ``target`` by pip (no dependencies, no build
    isolation: the venv's setuptools and mypy), with the environment ``env``."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-input",
               "--no-deps", "--no-build-isolation", "--target", str(target), str(tree)]  # fmt: skip
    return subprocess.run(command, env=env, cwd=tree.parent, capture_output=True, text=True, timeout=900)


def build(force: bool = False) -> Path:
    """Build the compiled copy into :data:`TARGET` (kept when fresh); returns it."""
    if not force and is_fresh():
        return TARGET
    with tempfile.TemporaryDirectory(prefix="exectrail-compile-") as folder:
        tree = copy_inputs(Path(folder) / "tree")
        shutil.rmtree(TARGET, ignore_errors=True)
        env = dict(os.environ, EXECTRAIL_BUILD="compiled")
        env.pop("EXECTRAIL_PURE", None)
        done = pip_install(tree, TARGET, env)
        if done.returncode != 0:
            raise RuntimeError(f"the compiled build failed:\n{done.stdout}\n{done.stderr}")
    STAMP.write_text(stamp())
    return TARGET


def env(pure: bool = False) -> dict[str, str]:
    """The environment of a process that runs the compiled copy (or its pure source)."""
    variables = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TARGET), str(REPO)]))
    variables.pop("EXECTRAIL_PURE", None)
    if pure:
        variables["EXECTRAIL_PURE"] = "1"
    return variables


def hot_path(variables: dict[str, str] | None = None) -> str:
    """The hot-path line of ``exectrail --version`` run with ``variables`` (default: this environment),
    for the benches to say what they timed."""
    version = [sys.executable, "-m", "exectrail.cli.main", "--version"]
    done = subprocess.run(version, env=variables, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1]


if __name__ == "__main__":
    print(f"compiled hot path: {build()}")
