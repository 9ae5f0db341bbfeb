"""Exec events and alarms in another schema (``--format ecs|ocsf``, the sinks' ``format=``).

The mappings themselves are :mod:`exectrail.output.ecs` and :mod:`exectrail.output.ocsf`; this module
picks one by name, knows this host (its name and machine id) and maps a forwarded message body: an
exec event or an alarm is mapped, anything else (a heartbeat) is left as it is.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, Final

import orjson

from exectrail.enrich.identity import host_identity
from exectrail.jsonform import EVENT_TYPE
from exectrail.output.ecs import HostInfo, alarm_to_ecs, event_to_ecs
from exectrail.output.ocsf import alarm_to_ocsf, event_to_ocsf

Mapping = Callable[[dict[str, Any], HostInfo], dict[str, Any]]

#: Schema name → (map an exec event's JSON object, map an alarm's JSON object).
MAPPINGS: Final[dict[str, tuple[Mapping, Mapping]]] = {
    "ecs": (event_to_ecs, alarm_to_ecs),
    "ocsf": (event_to_ocsf, alarm_to_ocsf),
}


def local_host(host_id: str | None = None) -> HostInfo:
    """This host: its name and its identity (``/etc/machine-id``), or ``host_id`` with no name when
    the events are another host's (``review --host-id``)."""
    if host_id is not None:
        return HostInfo(None, host_id)
    return HostInfo(socket.gethostname(), host_identity())


class BodyMapper:
    """Maps forwarded message bodies (``type`` ``exec`` or ``alarm``) to one schema; the host is the
    body's ``host`` (this host's machine id only when that is this host's name)."""

    def __init__(self, schema: str, local: HostInfo | None = None) -> None:
        self.map_event, self.map_alarm = MAPPINGS[schema]
        self.local = local if local is not None else local_host()
        self._hosts: dict[str, HostInfo] = {}

    def host(self, name: object) -> HostInfo:
        """The HostInfo of a body's ``host`` (this host when it is missing or not a string)."""
        if type(name) is not str or name == self.local.hostname:
            return self.local
        info = self._hosts.get(name)
        if info is None:
            if len(self._hosts) >= 1024:
                self._hosts.clear()
            info = self._hosts[name] = HostInfo(name, None, self.local.os_type)
        return info

    def __call__(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The mapped body, None for a message that is neither an exec event nor an alarm."""
        kind = body.get("type")
        if kind == EVENT_TYPE:
            return self.map_event(body, self.host(body.get("host")))
        if kind == "alarm":
            return self.map_alarm(body, self.host(body.get("host")))
        return None

    def json(self, body: dict[str, Any], original: bytes) -> bytes:
        """The JSON to send for a message: its mapped body, or ``original`` (its own JSON) when it is
        not mapped."""
        mapped = self(body)
        return original if mapped is None else orjson.dumps(mapped)


def body_mapper(schema: str) -> BodyMapper | None:
    """The mapper of a sink's ``format=`` (None for ``exectrail``: bodies go as they are)."""
    return BodyMapper(schema) if schema in MAPPINGS else None


__all__ = ["MAPPINGS", "BodyMapper", "HostInfo", "body_mapper", "local_host"]
