"""The tests keep their shape: test modules and conftests in the folders, everything shared in
tests/support (imported from there, never from a test module or a conftest), paths defined once."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.support.paths import SUPPORT, TESTS

#: scripts that (re)make the committed data beside it, documented in that data's README
RECIPES = {"data/capture.py", "interference/capture.py"}


def python_files() -> list[str]:
    return sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py") if not p.is_relative_to(SUPPORT))


def test_test_folders_hold_only_tests_conftests_and_recipes() -> None:
    stray = [
        name
        for name in python_files()
        if not re.fullmatch(r"(.*/)?(test_[a-z0-9_]+|conftest|__init__)\.py", name) and name not in RECIPES
    ]
    assert not stray, f"helpers belong in tests/support: {stray}"


def test_shared_code_is_imported_from_support_only() -> None:
    for name in [*python_files(), *(str(p.relative_to(TESTS)) for p in SUPPORT.rglob("*.py"))]:
        for node in ast.walk(ast.parse((TESTS / name).read_bytes())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                assert (node.module or "").startswith("tests.support"), (name, node.module)


def test_no_test_finds_the_data_through_its_own_file() -> None:
    for name in python_files():
        if name not in RECIPES:
            tree = ast.parse((TESTS / name).read_bytes())
            own_file = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "__file__"]
            assert not own_file, f"{name}: use tests.support.paths"


def test_the_root_fixtures(
    data_dir: Path, interference_data: Path, captured_logs: list[Path], cli_runner: Callable[..., Result]
) -> None:
    assert (data_dir / "README.md").is_file() and (interference_data / "README.md").is_file()
    assert [p.parent for p in captured_logs] == [data_dir] * 3 and all(p.is_file() for p in captured_logs)
    result = cli_runner(["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("exectrail")
