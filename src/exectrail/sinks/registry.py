"""Every sink exectrail has, by URL scheme: the one place that imports the sink modules.

Each sink module declares its schemes as ``KINDS`` (:class:`~exectrail.sinks.spec.SinkKind`: syntax,
parameters with defaults and checks, default port, how to open it). Adding a sink is a new module with
its ``KINDS`` and one entry in :data:`MODULES`. Imports point one way: this module → sink modules →
spec/net/base; no sink module imports this one (tests/sinks/test_registry.py keeps it so).
"""

from __future__ import annotations

from types import ModuleType

from exectrail.sinks import clickhouse, jsonl, sqlite, syslog
from exectrail.sinks.base import Sink
from exectrail.sinks.spec import SinkKind, SinkSpec, parse_url

MODULES: tuple[ModuleType, ...] = (syslog, clickhouse, jsonl, sqlite)  # in the order users see the schemes
KINDS: dict[str, SinkKind] = {kind.scheme: kind for module in MODULES for kind in module.KINDS}
SCHEMES = tuple(KINDS)


def parse_sink_url(url: str) -> SinkSpec:
    """Validate a ``--sink`` URL; unknown schemes and parameters are usage errors."""
    return parse_url(url, KINDS)


def open_sink(spec: SinkSpec) -> Sink:
    """The sink a spec names (nothing connects yet: network sinks connect on first send)."""
    return KINDS[spec.scheme].open(spec)


__all__ = ["KINDS", "MODULES", "SCHEMES", "open_sink", "parse_sink_url"]
