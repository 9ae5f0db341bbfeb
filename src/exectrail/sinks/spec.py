"""Sink URLs: the parsed :class:`SinkSpec`, the declarations sinks make of themselves, and the parsing.

Every sink module declares what it accepts as :class:`SinkKind` values next to its own code (its
scheme, default port, URL parameters with their defaults and checks, how to open it);
:mod:`exectrail.sinks.registry` collects them and :func:`parse_url` turns a URL into a
:class:`SinkSpec` against that table. This module imports no sink module: the dependencies point
one way, registry → sink modules → spec/net/base.

A URL is ``SCHEME://[USER[:PASSWORD]@]HOST[:PORT][/PATH][?NAME=VALUE&…]`` for a network sink and
``SCHEME:///PATH[?NAME=VALUE&…]`` for a file sink. Unknown schemes and parameters are usage errors.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from exectrail.errors import UsageError
from exectrail.sinks.base import Sink

SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MAX_SIZE = 1 << 60  # an exabyte: past that a size is a typing error
MAX_SECONDS = 1e6  # waits and timeouts beyond about 11 days are typing errors (and overflow waits)
DEFAULT_TIMEOUT = "10"


@dataclass(frozen=True)
class SinkSpec:
    """A parsed sink URL. ``display`` is the URL with any password replaced by ``***``."""

    scheme: str
    display: str
    host: str = ""
    port: int = 0
    path: str = ""
    user: str | None = None
    password: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Where the events go (scheme, host, port, path, table) — not how (ca, timeout…)."""
        where = f"{self.host}:{self.port}/{self.path}" if self.host else self.path
        return f"{self.scheme}://{where}?table={self.params.get('table', '')}"

    @property
    def slug(self) -> str:
        """A file-name-safe, stable name for this sink's spool directory (same target, same spool)."""
        where = f"{self.host}-{self.port}" if self.host else Path(self.path).name
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.scheme}-{where}")[:80]
        digest = hashlib.sha256(self.identity.encode()).hexdigest()[:10]
        return f"{safe}-{digest}"

    def timeout(self) -> float:
        """The ``timeout=`` parameter of a network sink (connect and I/O), in seconds."""
        return parse_seconds(self.params.get(TIMEOUT.name, DEFAULT_TIMEOUT), "timeout")


@dataclass(frozen=True)
class Param:
    """One URL parameter a sink takes: its name, a one-line doc, the value used when the URL does not
    give it (``""``: none) and an optional check run on a given value when the URL is parsed (it
    raises :class:`UsageError`; values a sink checks only when it opens are checked by the sink)."""

    name: str
    doc: str
    default: str = ""
    check: Callable[[SinkSpec, str], None] | None = None

    def value(self, spec: SinkSpec) -> str:
        """The value ``spec`` gives this parameter, else its default."""
        return spec.params.get(self.name, self.default)


@dataclass(frozen=True)
class SinkKind:
    """What one URL scheme names: the sink module declares it, the registry lists it.

    ``default_port`` None makes it a file sink (``SCHEME:///PATH``); ``check`` validates the whole
    spec after the parameters' own checks; ``open`` makes the sink (nothing connects yet).
    """

    scheme: str
    syntax: str
    open: Callable[[SinkSpec], Sink]
    params: tuple[Param, ...] = ()
    default_port: int | None = None
    check: Callable[[SinkSpec], None] | None = None

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(param.name for param in self.params)


def _check_timeout(spec: SinkSpec, value: str) -> None:
    parse_seconds(value, f"--sink {spec.display}: timeout")


TIMEOUT = Param("timeout", "connect and I/O timeout in seconds", DEFAULT_TIMEOUT, _check_timeout)

#: The message bodies a sink of JSON can send: exectrail's own JSON, or exec events and alarms mapped
#: to the Elastic Common Schema or OCSF (:mod:`exectrail.output.mapped`; heartbeats stay as they are).
BODY_FORMATS = ("exectrail", "ecs", "ocsf")


def _check_format(spec: SinkSpec, value: str) -> None:
    if value not in BODY_FORMATS:
        raise UsageError(
            f"--sink {spec.display}: format wants one of {', '.join(BODY_FORMATS)}, got {value!r}"
        )


FORMAT = Param(
    "format",
    "the JSON of exec events and alarms: exectrail's own, ecs (Elastic Common Schema) or ocsf",
    "exectrail",
    _check_format,
)


def parse_size(text: str, what: str = "size") -> int:
    """``1G``, ``500M``, ``64k``, ``1048576`` → bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", text)
    size = float(m.group(1)) * SIZE_UNITS[m.group(2).lower()] if m else math.nan
    if not 0 <= size <= MAX_SIZE:  # also false for nan (no match) and inf (too many digits)
        raise UsageError(f"{what} wants a size such as 500M or 2G, got {text!r}")
    return int(size)


def parse_seconds(text: str, what: str) -> float:
    """A positive, finite number of seconds up to :data:`MAX_SECONDS` (``inf`` and ``nan`` refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_SECONDS:  # also false for nan
        raise UsageError(f"{what} wants a positive number of seconds up to {MAX_SECONDS:g}, got {text!r}")
    return value


def parse_url(url: str, kinds: Mapping[str, SinkKind]) -> SinkSpec:
    """Validate a ``--sink`` URL against ``kinds`` (scheme → declaration, in the order to list them)."""
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower()
    kind = kinds.get(scheme) if sep else None
    if kind is None:
        raise UsageError(
            f"--sink {url!r}: unknown kind; use one of {', '.join(kinds)} (e.g. syslog+tcp://HOST:PORT)"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "[::1" (no closing bracket), "[zz]" (not an IPv6 address)
        raise UsageError(f"--sink {redact(url)}: {_reason(exc)}") from None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - kind.allowed)
    if unknown:
        hint = f" (allowed: {', '.join(sorted(kind.allowed))})" if kind.allowed else ""
        raise UsageError(f"--sink {redact(url)}: unknown parameter {', '.join(unknown)}{hint}")
    if kind.default_port is None:
        spec = _file_spec(url, scheme, parts.netloc + parts.path, params)
    else:
        spec = _network_spec(url, scheme, kind.default_port, parts, params)
    for param in kind.params:
        if param.check is not None and param.name in spec.params:
            param.check(spec, spec.params[param.name])
    if kind.check is not None:
        kind.check(spec)
    return spec


def _file_spec(url: str, scheme: str, where: str, params: dict[str, str]) -> SinkSpec:
    path = unquote(where)
    if not path:
        raise UsageError(f"--sink {url!r}: needs a file path, e.g. {scheme}:///var/log/exectrail.{scheme}")
    return SinkSpec(scheme, redact(url), path=path, params=params)


def _network_spec(
    url: str, scheme: str, default_port: int, parts: SplitResult, params: dict[str, str]
) -> SinkSpec:
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UsageError(f"--sink {redact(url)}: {_reason(exc)}") from None
    if not host:
        raise UsageError(f"--sink {redact(url)}: needs a host, e.g. {scheme}://127.0.0.1:{default_port}")
    if not host.isascii() or not host.isprintable():
        raise UsageError(f"--sink {redact(url)}: the host name must be printable ASCII (IDNA for others)")
    if port == 0:
        raise UsageError(f"--sink {redact(url)}: port 0 is not a port to send to")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    path = parts.path.strip("/")
    return SinkSpec(scheme, redact(url), host, port or default_port, path, user, password, params)


def _reason(exc: ValueError) -> str:
    """urllib's complaint about a URL, in words a user reads."""
    text = str(exc)
    if "Invalid IPv6 URL" in text:
        return "an IPv6 address goes in brackets, e.g. [::1]:514"
    if "IPv4 or IPv6" in text:
        return "what is in brackets is not an IPv6 address"
    return text


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


__all__ = [
    "BODY_FORMATS", "FORMAT", "TIMEOUT", "Param", "SinkKind", "SinkSpec", "parse_seconds", "parse_size",
    "parse_url", "redact",
]  # fmt: skip
