"""One-line reasons for network failures, shared by the sinks and the ClickHouse client."""

from __future__ import annotations

import socket
import ssl


def cannot_resolve(host: str, exc: socket.gaierror) -> str:
    return f"cannot resolve host {host!r} ({exc.strerror})"


def describe_io_error(exc: BaseException, timeout: float) -> str:
    """A short human reason for a socket/TLS failure."""
    if isinstance(exc, TimeoutError):
        detail = exc.strerror if exc.strerror and exc.strerror != "timed out" else ""
        return f"timed out after {timeout:g} s" + (f" ({detail})" if detail else "")
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


__all__ = ["cannot_resolve", "describe_io_error"]
