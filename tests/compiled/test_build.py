"""The build compiles the hot path where it can and falls back to pure Python where it cannot.

packaging/build/exectrail_build.py decides (``EXECTRAIL_BUILD`` auto, compiled or pure); the real
pip build runs here without a compiler (``CC`` names none) to show the fallback and the one-line
refusal of ``compiled``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import compiled
from tests.support.paths import REPO

NO_COMPILER = "/nonexistent/cc"


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(REPO / "packaging" / "build"))
    yield importlib.import_module("exectrail_build")


def test_the_modes(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CC", raising=False)
    modes = (
        ("auto", "compiled"),
        ("compiled", "compiled"),
        ("pure", "pure"),
        ("", "compiled"),
        (" Pure\n", "pure"),
    )
    for mode, want in modes:
        monkeypatch.setenv("EXECTRAIL_BUILD", mode)
        assert backend.build_mode() == want, mode
    monkeypatch.setenv("EXECTRAIL_BUILD", "fast")
    with pytest.raises(
        SystemExit, match=r"^exectrail build: EXECTRAIL_BUILD='fast' is not one of auto, compiled, pure$"
    ):
        backend.build_mode()

    monkeypatch.setenv("CC", NO_COMPILER)
    monkeypatch.setenv("EXECTRAIL_BUILD", "auto")
    assert backend.build_mode() == "pure"
    said = capsys.readouterr().err
    assert (
        said == f"exectrail build: no C compiler ({NO_COMPILER} not found; apt-get install gcc): "
        "installing the pure-Python hot path\n"
    )
    monkeypatch.setenv("EXECTRAIL_BUILD", "compiled")
    with pytest.raises(SystemExit, match=r"^exectrail build: cannot compile the hot path: no C compiler"):
        backend.build_mode()


@pytest.mark.parametrize(
    ("cc", "reason"),
    [
        ('"gcc', "no C compiler (CC='\"gcc' is not a command line)"),  # an unbalanced quote
        ("\udcffcc", "no C compiler (\\xffcc not found; apt-get install gcc)"),  # not UTF-8
        ("   ", "no C compiler (CC is empty not found; apt-get install gcc)"),
        ("/nonexistent/cc -O2", "no C compiler (/nonexistent/cc not found; apt-get install gcc)"),
    ],
)
def test_a_hostile_cc_gets_one_line(
    backend: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cc: str,
    reason: str,
) -> None:
    monkeypatch.setenv("CC", cc)
    monkeypatch.setenv("EXECTRAIL_BUILD", "auto")
    assert backend.build_mode() == "pure"
    assert capsys.readouterr().err == f"exectrail build: {reason}: installing the pure-Python hot path\n"
    monkeypatch.setenv("EXECTRAIL_BUILD", "compiled")
    with pytest.raises(SystemExit) as refused:
        backend.build_mode()
    assert str(refused.value) == f"exectrail build: cannot compile the hot path: {reason}"


def test_missing_python_headers_are_named(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    checker = importlib.import_module("exectrail_compiler")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(checker.sysconfig, "get_paths", lambda: {"include": str(tmp_path)})
    monkeypatch.setenv("EXECTRAIL_BUILD", "compiled")
    with pytest.raises(SystemExit) as refused:
        backend.build_mode()
    assert str(refused.value) == (
        f"exectrail build: cannot compile the hot path: no Python headers ({tmp_path}/Python.h; "
        "apt-get install python3-dev)"
    )


def test_the_scripts_ask_the_same_check() -> None:
    script = [sys.executable, str(REPO / "packaging" / "build" / "exectrail_compiler.py")]
    here = subprocess.run(script, capture_output=True, text=True, env=dict(os.environ, CC="gcc"))
    assert (here.returncode, here.stdout) == (0, "")
    env = dict(os.environ, CC=NO_COMPILER)
    none = subprocess.run(script, capture_output=True, text=True, env=env)
    assert (none.returncode, none.stdout) == (
        1,
        f"no C compiler ({NO_COMPILER} not found; apt-get install gcc)\n",
    )


def test_mypyc_is_asked_for_only_when_compiling(backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("EXECTRAIL_BUILD", "compiled")
    assert set(backend.COMPILE_REQUIRES) <= set(backend.get_requires_for_build_wheel())
    monkeypatch.setenv("EXECTRAIL_BUILD", "pure")
    assert not any(r.startswith("mypy") for r in backend.get_requires_for_build_wheel())
    assert not any(r.startswith("mypy") for r in backend.get_requires_for_build_editable())
    pinned = [r for r in backend.COMPILE_REQUIRES if r.startswith("mypy")]
    assert pinned == [f"mypy=={__import__('mypy.version').version.__version__}"]  # the test extra's mypy


def _pip_install(target: Path, mode: str) -> subprocess.CompletedProcess[str]:
    tree = compiled.copy_inputs(target.parent / f"{target.name}-tree")
    env = dict(os.environ, CC=NO_COMPILER, EXECTRAIL_BUILD=mode)
    return compiled.pip_install(tree, target, env)


def test_without_a_compiler_the_install_is_pure_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "pure"
    done = _pip_install(target, "auto")
    assert done.returncode == 0, done.stderr
    assert not list(target.rglob("*.so"))
    env = dict(compiled.env(), PYTHONPATH=str(target))
    assert compiled.hot_path(env) == "hot path: pure Python (installed without compiling it)"

    refused = _pip_install(tmp_path / "refused", "compiled")
    assert refused.returncode != 0
    assert "exectrail build: cannot compile the hot path: no C compiler" in refused.stdout + refused.stderr
