"""Imports go one way, down the layers of the package (README.md, "How it works"):

    cli -> capture/sinks/output/config -> query/interference -> store -> pipeline -> enrich
        -> assemble -> parse, kernel (netlink, rules, state) -> model/schema (filters)
        -> utilities (safefs, timeparse, lifeline) -> errors

Every module under src/exectrail is parsed with :mod:`ast` (imports inside functions and under
``TYPE_CHECKING`` count too: they are dependencies all the same). A module may import its own package,
a package of its layer and any layer below; an import of a higher layer fails, unless it is one of
today's known violations in :data:`KNOWN_UPWARD`, which may only shrink (an entry that no longer occurs
fails too). Packages of one layer may use each other, but never in a circle; and no modules import
each other in a circle but today's :data:`KNOWN_CIRCLES`, which may only shrink too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import exectrail
from tests.support.paths import README

PACKAGE = Path(exectrail.__file__).resolve().parent

#: Top first. A unit is a sub-package or a module directly under exectrail/. The names of the
#: target layout (DESIGN.md) that do not exist yet are listed where they will go.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("capture", "sinks", "output", "config"),
    ("query", "interference"),
    ("store", "warehouse"),
    ("pipeline",),
    ("enrich",),
    ("assemble",),
    ("parse", "kernel"),
    ("model", "schema", "jsonform", "filters", "audit_tables"),
    ("safefs", "timeparse", "timefmt", "lifeline", "neterrors", "hotpath"),
    ("errors",),
)
RANK = {unit: len(LAYERS) - depth for depth, units in enumerate(LAYERS) for unit in units}

#: The package root is the public API: it may import anything, and nothing imports from it but this.
FROM_ROOT = {"__version__"}

#: Today's imports against the direction: (importing module, imported module) -> why, and what removes it.
#: Only ever delete entries.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


#: Today's circles of modules importing each other (each a strongly connected set of modules): an
#: import circle makes the order of loading matter and the pieces impossible to read apart. Only ever
#: delete entries.
KNOWN_CIRCLES: dict[frozenset[str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``exectrail.x.y`` is a module or package (rather than a name in one)."""
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def imported(source: bytes, own: str, is_package: bool = False) -> Iterator[tuple[str, int]]:
    """Every exectrail module the module ``own`` imports, with the line: ``from exectrail import
    safefs`` is ``exectrail.safefs``, ``from exectrail import __version__`` is ``exectrail:__version__``."""
    package = own.split(".") if is_package else own.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                if origin.partition(".")[0] == "exectrail" and is_module(f"{origin}.{alias.name}"):
                    names.append(f"{origin}.{alias.name}")
                else:
                    names.append(f"exectrail:{alias.name}" if origin == "exectrail" else origin)
        for name in names:
            if name.partition(":")[0].partition(".")[0] == "exectrail":
                yield name, node.lineno  # type: ignore[attr-defined]


def unit(name: str) -> str:
    """The layer unit of a module: ``exectrail.store.db`` -> ``store``, ``exectrail`` -> ``""``."""
    return name.split(":")[0].split(".")[1] if "." in name.split(":")[0] else ""


def edges() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) -> where, for every import from one unit into another."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        for name, line in imported(path.read_bytes(), importer, path.name == "__init__.py"):
            if unit(name) != unit(importer):
                found.setdefault((importer, name), []).append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return found


def upward() -> dict[tuple[str, str], list[str]]:
    return {
        (importer, name): where
        for (importer, name), where in edges().items()
        if unit(importer) and unit(name) and RANK[unit(name)] > RANK[unit(importer)]
    }


def test_every_unit_has_a_layer() -> None:
    units = {
        module_name(path).split(".")[1]
        for path in PACKAGE.rglob("*.py")
        if path.parent != PACKAGE or path.name != "__init__.py"
    }
    assert {"cli", "store", "parse", "errors"} <= units
    missing = sorted(units - set(RANK))
    assert not missing, f"give these a place in LAYERS (and in the map of README.md): {missing}"


def test_no_import_goes_up_the_layers() -> None:
    new = {edge: where for edge, where in upward().items() if edge not in KNOWN_UPWARD}
    assert not new, "imports against the layer order (README.md, 'How it works'):\n" + "\n".join(
        f"  {importer} -> {name}  ({', '.join(where)})" for (importer, name), where in sorted(new.items())
    )


def test_the_known_violations_are_all_still_there() -> None:
    """An entry of KNOWN_UPWARD that no longer occurs is deleted (the list only shrinks)."""
    stale = sorted(set(KNOWN_UPWARD) - set(upward()))
    assert not stale, f"fixed: delete from KNOWN_UPWARD: {stale}"


def test_only_the_version_is_imported_from_the_package_root() -> None:
    """``exectrail/__init__.py`` is the public API, above everything: the package does not import it."""
    from_root = {
        (importer, name)
        for (importer, name) in edges()
        if name == "exectrail" or name.startswith("exectrail:")
    }
    assert {name.partition(":")[2] for _, name in from_root} <= FROM_ROOT, sorted(from_root)


def test_units_of_one_layer_use_each_other_without_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for importer, name in edges():
        if unit(importer) and unit(name) and (importer, name) not in KNOWN_UPWARD:
            graph.setdefault(unit(importer), set()).add(unit(name))
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"units import each other in a circle: {' -> '.join([*path, node])}"
        if node in done:
            return
        for other in sorted(graph.get(node, ())):
            visit(other, (*path, node))
        done.add(node)

    for node in sorted(graph):
        visit(node, ())


def module_graph() -> dict[str, set[str]]:
    """Module -> the exectrail modules it imports (a name imported from a module counts as the module)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        names = {
            name.partition(":")[0]
            for name, _ in imported(path.read_bytes(), importer, path.name == "__init__.py")
        }
        graph[importer] = names - {importer}
    return graph


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected sets of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = stack[stack.index(node) :]
                del stack[stack.index(node) :]
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_no_new_circle_of_imports() -> None:
    new = circles(module_graph()) - set(KNOWN_CIRCLES)
    assert not new, f"modules importing each other in a circle: {[sorted(c) for c in new]}"


def test_the_known_circles_are_all_still_there() -> None:
    """A circle of KNOWN_CIRCLES that is gone (or changed) is deleted (or updated) there."""
    stale = set(KNOWN_CIRCLES) - circles(module_graph())
    assert not stale, f"gone or changed: update KNOWN_CIRCLES: {[sorted(c) for c in stale]}"


def test_circles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": set()}
    assert circles(graph) == {frozenset("abc"), frozenset("de")}
    assert circles({"a": {"a"}, "b": set()}) == set()


SAMPLE = b"""
import exectrail.store.db, os
from exectrail import safefs, __version__
from . import common
from .common import echo_err
from ..store import reader
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from exectrail.model import ExecEvent
def later():
    from exectrail.output.fields import event_to_dict
"""


def test_the_checker_sees_imports_of_every_kind() -> None:
    """Absolute, relative, of a module or a name, from the root, typing-only, inside a function."""
    assert sorted(name for name, _ in imported(SAMPLE, "exectrail.cli.sample")) == [
        "exectrail.cli.common",
        "exectrail.cli.common",
        "exectrail.model",
        "exectrail.output.fields",
        "exectrail.safefs",
        "exectrail.store.db",
        "exectrail.store.reader",
        "exectrail:__version__",
    ]
    assert [name for name, _ in imported(b"from . import db", "exectrail.store", True)] == [
        "exectrail.store.db"
    ]
    assert RANK["cli"] > RANK["sinks"] == RANK["output"] > RANK["store"] > RANK["parse"] > RANK["model"]


def existing_units() -> set[str]:
    return {
        path.stem if path.suffix == ".py" else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }


def test_the_readme_map_is_true() -> None:
    """README.md ("How it works"): its layer line is LAYERS (the units that exist) and its tree names
    every unit."""
    page = README.read_text()
    line = re.search(r"\nLayers: (.*?)\.\n", page, re.DOTALL)
    assert line, "README.md: no 'Layers: ...' line under How it works"
    said = [tuple(u.strip() for u in part.split(",")) for part in " ".join(line.group(1).split()).split("→")]
    units = existing_units()
    assert said == [kept for layer in LAYERS if (kept := tuple(u for u in layer if u in units))]
    tree = page[page.index("src/exectrail/\n") : line.start()]
    named = set(re.findall(r"\b([a-z_]+)(?:/|\.py)", tree))
    assert units <= named, f"README.md's tree lacks {sorted(units - named)}"
