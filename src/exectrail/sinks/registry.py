"""Every sink exectrail has, by URL scheme: the one place that imports the sink modules.

Each sink module declares its schemes as ``KINDS`` (:class:`~exectrail.sinks.spec.SinkKind`: syntax,
parameters with defaults and checks, default port, how to open it). Adding a sink is a new module with
its ``KINDS`` and one name in :func:`modules`. Imports point one way: this module → sink modules →
spec/net/base; no sink module imports this one (tests/sinks/test_registry.py keeps it so).

The sink modules are imported on first use, not with this module: every command imports the sinks
package, and a run that forwards nothing need not load ``ssl`` and ``http.client``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from exectrail.sinks.base import Sink
from exectrail.sinks.spec import SinkKind, SinkSpec, parse_url


@functools.cache
def modules() -> tuple[ModuleType, ...]:
    """The sink modules, in the order users see their schemes."""
    from exectrail.sinks import clickhouse, jsonl, relp, sqlite, syslog

    return (syslog, relp, clickhouse, jsonl, sqlite)


@functools.cache
def kinds() -> Mapping[str, SinkKind]:
    """Scheme → the declaration of the sink it names, in the order users see them."""
    return MappingProxyType({kind.scheme: kind for module in modules() for kind in module.KINDS})


def schemes() -> tuple[str, ...]:
    return tuple(kinds())


def parse_sink_url(url: str) -> SinkSpec:
    """Validate a ``--sink`` URL; unknown schemes and parameters are usage errors."""
    return parse_url(url, kinds())


def open_sink(spec: SinkSpec) -> Sink:
    """The sink a spec names (nothing connects yet: network sinks connect on first send)."""
    return kinds()[spec.scheme].open(spec)


__all__ = ["kinds", "modules", "open_sink", "parse_sink_url", "schemes"]
