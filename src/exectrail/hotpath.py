"""Which hot path runs: the modules compiled by mypyc, or their pure-Python source.

The per-line and per-event work (split lines into records, group them by event, decode SYSCALL and
EXECVE, build the event, the per-record part of the alarm scan, the JSON line) lives in the modules of
:data:`HOT_MODULES`. A build with a C compiler compiles them with mypyc (``setup.py``); the ``.py``
source stays beside them as the reference, and ``EXECTRAIL_PURE=1`` runs it instead: a meta-path finder
loads the source even where a compiled module sits beside it. ``exectrail --version`` names the path
in use (:func:`describe`).

Only the standard library is imported here: this module is loaded by ``exectrail/__init__`` before
anything else.
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

#: The modules compiled by mypyc (their import names). ``setup.py`` reads this tuple from the source.
#: Left out (mypy 2.4.1): ``pipeline.logscan`` (compiled, its import crashes the interpreter) and
#: ``enrich.proctable`` (compiled, its NamedTuple raises KeyError 'object' at import), ``model`` (its
#: classes would be native ones, which interpreted code cannot subclass, and measured no faster).
HOT_MODULES: tuple[str, ...] = (
    "exectrail.parse.record",
    "exectrail.parse.fields",
    "exectrail.parse.logfile",
    "exectrail.assemble.grouper",
    "exectrail.assemble.syscall",
    "exectrail.assemble.execve",
    "exectrail.assemble.argv",
    "exectrail.assemble.memo",
    "exectrail.enrich.context",
    "exectrail.enrich.records",
    "exectrail.enrich.identity",
    "exectrail.enrich.names",
    "exectrail.enrich.script",
    "exectrail.interference.trail",
    "exectrail.interference.trailstate",
    "exectrail.interference.findings",
    "exectrail.interference.notices",
    "exectrail.pipeline.events",
    "exectrail.output.writers",
)

#: Allocations between two collections of the garbage collector's youngest generation in a command
#: (Python's default: 700); see :func:`tune_garbage_collector`.
GC_THRESHOLD = 50_000

#: The environment variable that asks for the pure-Python path.
PURE_VARIABLE = "EXECTRAIL_PURE"


#: Values of ``EXECTRAIL_PURE`` that do not ask for the pure path (compared stripped, in lower case).
_OFF = ("", "0", "no", "false", "off")


def pure_requested() -> bool:
    """True when ``EXECTRAIL_PURE`` asks for the pure-Python source (set, and not empty, 0, no, false
    or off)."""
    return os.environ.get(PURE_VARIABLE, "").strip().lower() not in _OFF


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Load the hot modules from their ``.py`` source even where a compiled module sits beside it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in HOT_MODULES or not path:
            return None
        leaf = fullname.rpartition(".")[2]
        for folder in path:
            source = os.path.join(folder, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


def install_source_finder() -> None:
    """Put the source finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())


def _module_is_compiled(name: str) -> bool:
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
    else:
        origin = getattr(module, "__file__", None)
    return origin is not None and not origin.endswith(".py")


def compiled_modules() -> list[str]:
    """The hot modules that this process runs compiled."""
    return [name for name in HOT_MODULES if _module_is_compiled(name)]


def describe() -> str:
    """One line naming the hot path in use, as ``exectrail --version`` prints it."""
    compiled = compiled_modules()
    if len(compiled) == len(HOT_MODULES):
        return f"hot path: compiled (mypyc, {len(compiled)} modules)"
    if pure_requested():
        return f"hot path: pure Python ({PURE_VARIABLE} is set)"
    if compiled:
        return f"hot path: partly compiled ({len(compiled)} of {len(HOT_MODULES)} modules)"
    return "hot path: pure Python (installed without compiling it)"


def tune_garbage_collector() -> None:
    """For a command, not the library: run the cyclic garbage collector less often.

    Decoding allocates millions of short-lived objects that form no cycles (plain reference counting
    frees them), and Python's default collects the youngest generation every 700 allocations:
    ~15% of a scan's time on the bench log, measured. Every :data:`GC_THRESHOLD` allocations instead,
    with the objects of the imports made so far left out of every collection (``gc.freeze``).
    """
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
