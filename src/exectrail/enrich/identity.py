"""Exec ids: one id per exec event, unique across hosts and boots, the same live and from the log.

``exec_id`` is 32 hex digits of BLAKE2b over (host identity, event time in ms, serial). The audit
serial restarts at each boot, but with the time it is unique on a host (two events of one host never
share both); the host identity separates hosts: the log's ``node=`` name when auditd wrote one, else
the machine id of the host that captured it (``/etc/machine-id``; its hostname when that file is
missing or empty). A log read on another host without ``node=`` needs that host's id
(``review --host-id``) to give the ids it got there.
"""

from __future__ import annotations

import os
import socket
from hashlib import blake2b

__all__ = ["exec_id", "host_identity"]

_MACHINE_ID = "/etc/machine-id"


def host_identity(path: str = _MACHINE_ID) -> str:
    """This host's identity for exec ids: its machine id, else its hostname."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return socket.gethostname()
    try:
        text = os.read(fd, 256).strip().decode("ascii", "replace")
    except OSError:
        text = ""
    finally:
        os.close(fd)
    return text if text else socket.gethostname()


def exec_id(host: str, time_ms: int, serial: int) -> str:
    """The exec id of the event ``(time_ms, serial)`` of ``host`` (32 lowercase hex digits): BLAKE2b
    (16-byte digest) of ``HOST NUL TIME_MS NUL SERIAL`` (UTF-8, decimal)."""
    prefix = _PREFIXES.get(host)
    if prefix is None:
        if len(_PREFIXES) >= 1024:
            _PREFIXES.clear()
        prefix = _PREFIXES[host] = host.encode("utf-8", "surrogateescape") + b"\0"
    return blake2b(b"%b%d\0%d" % (prefix, time_ms, serial), digest_size=16).hexdigest()


_PREFIXES: dict[str, bytes] = {}
