"""Every module of the compiled copy imports first in a fresh process.

A module mypyc compiles can fail at import where its source does not, and only when it is the
first one loaded: compiled ``pipeline.logscan`` crashes the interpreter at import and compiled
``enrich.proctable`` raises KeyError 'object' (mypy 2.4.1), so both stay out of HOT_MODULES. Each
module is imported first, alone.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from exectrail.hotpath import HOT_MODULES
from tests.support import compiled


def _modules(root: Path) -> list[str]:
    names = []
    for path in sorted((root / "exectrail").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _import_alone(name: str) -> tuple[str, int, str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        env=compiled.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return name, done.returncode, done.stderr[-500:]


def test_every_module_imports_first_in_a_fresh_compiled_process(compiled_build: Path) -> None:
    modules = _modules(compiled_build)
    assert set(HOT_MODULES) <= set(modules) and len(modules) > 150, len(modules)
    built = {p.name.split(".")[0] for p in compiled_build.rglob("*.so")}
    assert {name.rpartition(".")[2] for name in HOT_MODULES} <= built
    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [r for r in pool.map(_import_alone, modules) if r[1] != 0]
    assert not failed, failed
