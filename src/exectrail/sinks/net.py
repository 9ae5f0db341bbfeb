"""Socket code the network sinks share: connecting (TCP, UDP, TLS), waiting for acknowledgements,
the TLS parameters of a sink URL, and the one-line wording of every connection failure."""

from __future__ import annotations

import fcntl
import select
import socket
import ssl
import struct
import termios
import time
from collections.abc import Callable
from pathlib import Path

from exectrail.errors import UsageError
from exectrail.neterrors import cannot_resolve, describe_io_error
from exectrail.sinks.base import SinkError
from exectrail.sinks.spec import Param, SinkSpec


def _file_check(name: str) -> Callable[[SinkSpec, str], None]:
    def check(spec: SinkSpec, file: str) -> None:
        if not Path(file).is_file():
            raise UsageError(f"--sink {spec.display}: {name} file {file!r} does not exist")

    return check


CA = Param("ca", "CA certificates (PEM) the server certificate must chain to (default: the system CAs)",
           check=_file_check("ca"))  # fmt: skip
CERT = Param("cert", "client certificate (PEM), with key=", check=_file_check("cert"))
KEY = Param("key", "the client certificate's private key (PEM), with cert=", check=_file_check("key"))
SERVER_NAME = Param("server_name", "the name the server certificate must carry (default: the host)")
TLS_PARAMS = (CA, CERT, KEY, SERVER_NAME)


def check_tls_pair(spec: SinkSpec) -> None:
    """``cert=`` and ``key=`` come together or not at all."""
    if (CERT.name in spec.params) != (KEY.name in spec.params):
        raise UsageError(f"--sink {spec.display}: cert= and key= go together")


def tls_context(spec: SinkSpec) -> ssl.SSLContext:
    """Verifying client context: ``ca=`` (else the system CAs), optional client ``cert=``/``key=``."""
    try:
        context = ssl.create_default_context(cafile=spec.params.get(CA.name))
        if CERT.name in spec.params:
            context.load_cert_chain(spec.params[CERT.name], spec.params[KEY.name])
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--sink {spec.display}: cannot load TLS files: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(host: str, port: int, timeout: float, *, datagram: bool = False) -> socket.socket:
    """A connected TCP socket (with keep-alive and ``timeout``) or UDP socket, or :class:`SinkError`."""
    try:
        if datagram:
            family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind, proto)
            sock.connect(addr)
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except socket.gaierror as exc:
        raise SinkError(cannot_resolve(host, exc)) from None
    except OSError as exc:
        raise SinkError(f"cannot connect to {host}:{port}: {describe_io_error(exc, timeout)}") from None
    return sock


def tls_handshake(
    sock: socket.socket, context: ssl.SSLContext, server_name: str, where: str, timeout: float
) -> ssl.SSLSocket:
    """``sock`` wrapped in TLS to ``where`` (``HOST:PORT``); closed and :class:`SinkError` on failure."""
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise SinkError(
            f"TLS certificate of {where} rejected: {exc.verify_message} "
            f"(expected name {server_name!r}, signed by the ca= file or a system CA)"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise SinkError(f"TLS handshake with {where} failed: {describe_io_error(exc, timeout)}") from None


def wait_acknowledged(sock: socket.socket, timeout: float) -> None:
    """Wait until the peer's TCP stack has acknowledged everything sent (or raise OSError)."""
    deadline = time.monotonic() + timeout
    pause = 0.0002
    while True:
        if peer_closed(sock):
            raise ConnectionResetError(104, "the receiver closed the connection")
        if unacknowledged(sock) == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(110, "the receiver stopped reading")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def unacknowledged(sock: socket.socket) -> int:
    """Bytes sent but not yet acknowledged by the peer (Linux SIOCOUTQ)."""
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


def peer_closed(sock: socket.socket) -> bool:
    """True when the receiver has closed or reset the connection (it never sends data)."""
    if isinstance(sock, ssl.SSLSocket):
        saved = sock.gettimeout()
        sock.setblocking(False)
        try:
            return sock.recv(1) == b""
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(saved)
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


__all__ = [
    "CA", "CERT", "KEY", "SERVER_NAME", "TLS_PARAMS", "cannot_resolve", "check_tls_pair", "connect",
    "describe_io_error", "peer_closed", "tls_context", "tls_handshake", "unacknowledged", "wait_acknowledged",
]  # fmt: skip
