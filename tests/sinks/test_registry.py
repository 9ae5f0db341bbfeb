"""The shape of exectrail.sinks: imports point one way (registry → sink modules → net/spec → base), and
every registered scheme is declared by its sink module with documented, checked parameters."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import exectrail.sinks
from exectrail.errors import UsageError
from exectrail.sinks import clickhouse, jsonl, syslog
from exectrail.sinks.registry import kinds, modules, open_sink, parse_sink_url, schemes
from exectrail.sinks.spec import TIMEOUT, SinkKind
from tests.support.paths import REPO

PACKAGE = Path(exectrail.sinks.__file__).parent
ROOT = REPO
SINK_MODULES = frozenset(module.__name__.rpartition(".")[2] for module in modules())
KINDS = kinds()
SCHEMES = schemes()
# Which modules of exectrail.sinks each module may import. A module not listed here (nor a sink
# module of the registry) fails the test: place it in the order before adding it.
ALLOWED: dict[str, frozenset[str]] = {
    "base": frozenset(),
    "spec": frozenset({"base"}),
    "net": frozenset({"base", "spec"}),
    "status": frozenset(),
    "spool": frozenset({"base"}),
    "forwarder": frozenset({"base", "spool", "status"}),
    "rfc5424": frozenset({"base", "spec"}),  # the message the syslog and RELP sinks send
    "relpframe": frozenset(),  # the RELP wire format
    "registry": frozenset({"base", "spec"}) | SINK_MODULES,
    "sinkset": frozenset({"base", "forwarder", "registry", "spool"}),
    "url": frozenset({"registry", "spec"}),  # the old import path, re-exported
    "__init__": frozenset({"base", "forwarder", "registry", "sinkset", "spec", "status"}),
    **dict.fromkeys(SINK_MODULES, frozenset({"base", "spec", "net", "rfc5424"})),
    "relp": frozenset({"base", "spec", "net", "rfc5424", "relpframe"}),
}


def sinks_imports(source: str, importer: str) -> set[str]:
    """The modules of exectrail.sinks that ``source`` (module ``importer``) imports, anywhere in it;
    ``__init__`` stands for the package itself (``from exectrail.sinks import NAME`` of a non-module)."""
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    package_parts = ["exectrail", "sinks"]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package (or its parent) of the importer
                anchor = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "exectrail.sinks":
                names = [f"{base}.{alias.name}" if alias.name in modules else base for alias in node.names]
            else:
                names = [base]
        else:
            continue
        for name in names:
            if name == "exectrail.sinks":
                found.add("__init__")
            elif name.startswith("exectrail.sinks."):
                found.add(name.split(".")[2])
    found.discard(importer)
    return found


def import_graph() -> dict[str, set[str]]:
    return {path.stem: sinks_imports(path.read_text(), path.stem) for path in sorted(PACKAGE.glob("*.py"))}


def test_imports_inside_sinks_point_one_way() -> None:
    wrong = []
    for module, imported in import_graph().items():
        if module not in ALLOWED:
            wrong.append(f"{module}: not placed in tests/sinks/test_registry.py ALLOWED")
            continue
        for target in sorted(imported - ALLOWED[module]):
            wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_only_the_top_imports_the_registry_and_url_parsing_imports_no_sink() -> None:
    graph = import_graph()
    importers = {module for module, imported in graph.items() if imported & {"registry", "url"}}
    assert importers <= {"__init__", "sinkset", "url"}
    assert graph["spec"] <= {"base"}
    assert not graph["registry"] & {"sinkset", "url", "__init__"}


def test_the_import_graph_has_no_circle() -> None:
    graph = import_graph()
    graph.pop("__init__")  # the package imports its parts; none of them imports it (checked above)
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import circle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for target in graph.get(module, ()):
            visit(target, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        ("syslog", "from exectrail.sinks.registry import open_sink", {"registry"}),
        ("jsonl", "def f():\n    from exectrail.sinks.url import parse_sink_url\n", {"url"}),
        ("clickhouse", "from exectrail.sinks import syslog, SinkSet", {"syslog", "__init__"}),
        ("spec", "from . import registry\nfrom .jsonl import JsonlSink", {"registry", "jsonl"}),
        ("net", "import exectrail.sinks.sinkset", {"sinkset"}),
    ],
)
def test_the_import_check_sees_wrong_imports(importer: str, source: str, expected: set[str]) -> None:
    found = sinks_imports(source, importer)
    assert found == expected
    assert found - ALLOWED[importer]  # every one of these is against the order


def test_every_scheme_is_declared_by_its_sink_module() -> None:
    assert SCHEMES == (
        "syslog+tcp", "syslog+tls", "syslog+udp", "relp", "relp+tls", "clickhouse+http", "jsonl", "sqlite",
    )  # fmt: skip
    for module in modules():
        for kind in module.KINDS:
            assert isinstance(kind, SinkKind)
            assert KINDS[kind.scheme] is kind
            assert getattr(kind.open, "__module__", None) == module.__name__
            assert kind.syntax.startswith(f"{kind.scheme}://"), kind.syntax
    assert sum(len(module.KINDS) for module in modules()) == len(KINDS)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_parameter_is_declared_documented_and_accepted(scheme: str, tmp_path: Path) -> None:
    kind = KINDS[scheme]
    names = [param.name for param in kind.params]
    assert len(names) == len(set(names))
    file = tmp_path / "file.pem"
    file.write_text("")
    values = {}
    for param in kind.params:
        assert re.fullmatch(r"[a-z_]+", param.name) and param.doc.strip(), param
        values[param.name] = param.default or (str(file) if param.check else "x")
    where = f"{scheme}://h/db" if kind.default_port is not None else f"{scheme}://{tmp_path}/out"
    query = "&".join(f"{name}={value}" for name, value in values.items())
    spec = parse_sink_url(f"{where}?{query}" if query else where)
    assert spec.params == values
    with pytest.raises(UsageError) as caught:
        parse_sink_url(f"{where}?no_such_param=1")
    hint = f" (allowed: {', '.join(sorted(names))})" if names else ""
    assert str(caught.value).endswith(f"unknown parameter no_such_param{hint}")


def test_every_scheme_and_parameter_is_in_the_documentation() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    text = "\n".join(path.read_text() for path in docs if path.is_file())
    missing = [f"`{scheme}://`" for scheme in SCHEMES if f"`{scheme}://" not in text]
    for kind in KINDS.values():
        missing += [f"{kind.scheme}: {p.name}=" for p in kind.params if not re.search(rf"\b{p.name}=", text)]
    assert missing == []


def test_sinks_use_their_declared_defaults(tmp_path: Path) -> None:
    sink = open_sink(parse_sink_url("syslog+tcp://h"))
    assert isinstance(sink, syslog.SyslogSink)
    assert sink.rfc5424.facility == syslog.FACILITIES[syslog.FACILITY.default] * 8
    assert sink._timeout == float(TIMEOUT.default)
    ch = open_sink(parse_sink_url("clickhouse+http://h"))
    assert isinstance(ch, clickhouse.ClickHouseSink)
    assert ch.table == f"default.{clickhouse.TABLE.default}"
    out = open_sink(parse_sink_url(f"jsonl://{tmp_path}/x.jsonl"))
    assert isinstance(out, jsonl.JsonlSink)
    assert (out.max_size, out.keep) == (100 << 20, int(jsonl.KEEP.default))
    for opened in (sink, ch, out):
        opened.close()


def test_the_sink_modules_load_on_first_use_only() -> None:
    """Every command imports the sinks package: one that forwards nothing does not load ssl/http.client."""
    code = (
        "import sys, exectrail.sinks, exectrail.sinks.registry as r\n"
        f"names = ['exectrail.sinks.' + m for m in {sorted({*SINK_MODULES, 'net'})}]\n"
        "print(sorted(n for n in names if n in sys.modules))\n"
        "r.parse_sink_url('jsonl:///x')\n"
        "print(sorted(n for n in names if n in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", str(sorted(f"exectrail.sinks.{m}" for m in (*SINK_MODULES, "net")))]
