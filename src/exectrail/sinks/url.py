"""Sink URLs: parsing, validation and the sink each one names.

``syslog+tcp://HOST:PORT``, ``syslog+tls://HOST:PORT?ca=FILE[&cert=FILE&key=FILE][&server_name=NAME]``,
``syslog+udp://HOST:PORT``, ``clickhouse+http://[USER[:PASSWORD]@]HOST:PORT/DATABASE?table=NAME``,
``jsonl:///PATH[?max_size=100M&keep=5]``, ``sqlite:///PATH``. Network sinks also take ``timeout=SECONDS``
(connect and I/O, default 10); syslog sinks take ``facility=NAME`` (default ``audit``, 13).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from exectrail.errors import UsageError
from exectrail.sinks.base import Sink

NETWORK_PARAMS = frozenset({"timeout"})
SCHEMES: dict[str, tuple[frozenset[str], int | None]] = {  # scheme -> (allowed params, default port)
    "syslog+tcp": (NETWORK_PARAMS | {"facility"}, 514),
    "syslog+tls": (NETWORK_PARAMS | {"facility", "ca", "cert", "key", "server_name"}, 6514),
    "syslog+udp": (NETWORK_PARAMS | {"facility"}, 514),
    "clickhouse+http": (NETWORK_PARAMS | {"table"}, 8123),
    "jsonl": (frozenset({"max_size", "keep"}), None),
    "sqlite": (frozenset(), None),
}
SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MAX_SIZE = 1 << 60  # an exabyte: past that a size is a typing error
MAX_SECONDS = 1e6  # waits and timeouts beyond about 11 days are typing errors (and overflow waits)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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
    def network(self) -> bool:
        return bool(self.host)

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
        return parse_seconds(self.params.get("timeout", "10"), "timeout")


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


def parse_sink_url(url: str) -> SinkSpec:
    """Validate a ``--sink`` URL; unknown schemes and parameters are usage errors."""
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise UsageError(
            f"--sink {url!r}: unknown kind; use one of {', '.join(SCHEMES)} (e.g. syslog+tcp://HOST:PORT)"
        )
    allowed, default_port = SCHEMES[scheme]
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "[::1" (no closing bracket), "[zz]" (not an IPv6 address)
        raise UsageError(f"--sink {redact(url)}: {_reason(exc)}") from None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - allowed)
    if unknown:
        hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
        raise UsageError(f"--sink {redact(url)}: unknown parameter {', '.join(unknown)}{hint}")
    if default_port is None:
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise UsageError(
                f"--sink {url!r}: needs a file path, e.g. {scheme}:///var/log/exectrail.{scheme}"
            )
        return SinkSpec(scheme, redact(url), path=path, params=params)
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
    spec = SinkSpec(scheme, redact(url), host, port or default_port, path, user, password, params)
    _check(spec)
    return spec


def _check(spec: SinkSpec) -> None:
    parse_seconds(spec.params.get("timeout", "10"), f"--sink {spec.display}: timeout")
    for name in ("ca", "cert", "key"):
        file = spec.params.get(name)
        if file is not None and not Path(file).is_file():
            raise UsageError(f"--sink {spec.display}: {name} file {file!r} does not exist")
    if ("cert" in spec.params) != ("key" in spec.params):
        raise UsageError(f"--sink {spec.display}: cert= and key= go together")
    if spec.scheme == "clickhouse+http":
        table = spec.params.get("table", "exec_events")
        database = spec.path or "default"
        for what, name in (("database", database), ("table", table)):
            if not IDENTIFIER.match(name):
                raise UsageError(f"--sink {spec.display}: {what} name {name!r} is not a plain identifier")


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


def open_sink(spec: SinkSpec) -> Sink:
    """The sink a spec names (nothing connects yet: network sinks connect on first send)."""
    if spec.scheme.startswith("syslog+"):
        from exectrail.sinks.syslog import SyslogSink

        return SyslogSink(spec)
    if spec.scheme == "clickhouse+http":
        from exectrail.sinks.clickhouse import ClickHouseSink

        return ClickHouseSink(spec)
    if spec.scheme == "jsonl":
        from exectrail.sinks.jsonl import JsonlSink

        return JsonlSink(spec)
    from exectrail.sinks.sqlite import open_sqlite_sink

    return open_sqlite_sink(spec)


__all__ = ["SCHEMES", "SinkSpec", "open_sink", "parse_seconds", "parse_sink_url", "parse_size", "redact"]
