"""A small ClickHouse client over plain HTTP (``http.client``): one statement per request, keep-alive.

Works with Debian's clickhouse-server 18.16 and current releases. Every failure is a
:class:`WarehouseError` with a one-line reason (the server's first line, or what the network did).
"""

from __future__ import annotations

import base64
import http.client
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlencode

from exectrail.errors import ExectrailError
from exectrail.neterrors import cannot_resolve, describe_io_error

RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
#: An INSERT's payload: the bytes, or a function giving its pieces afresh (sent as they are made, with
#: chunked transfer encoding, so the server parses one piece while the next is built; called again
#: for the one retry).
Payload = bytes | Callable[[], Iterable[bytes]]


class WarehouseError(ExectrailError):
    """ClickHouse could not be reached or refused a statement (the message says why, in one line)."""


def literal(value: str) -> str:
    """``value`` as a ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ClickHouseClient:
    """Runs statements on one server; ``close`` drops the connection (a later query reconnects)."""

    def __init__(
        self, host: str, port: int, *, user: str | None = None, password: str | None = None,
        timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self.host, self.port, self.timeout = host, port, timeout
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._conn: http.client.HTTPConnection | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def query(self, sql: str, data: Payload | None = None, **settings: object) -> bytes:
        """Run one statement (``data`` is an INSERT's payload); return the response body."""
        params = dict(settings)
        if data is None:
            data = sql.encode()
        else:
            params["query"] = sql
        target = "/?" + urlencode(params) if params else "/"
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                status, reply = self._post(target, data)
                break
            except RETRYABLE as exc:  # an idle keep-alive connection the server closed: retry once
                self.close()
                if not reused or attempt == 2:
                    raise WarehouseError(self._io_error(exc)) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise WarehouseError(self._io_error(exc)) from None
        if status != 200:
            first = reply.decode("utf-8", "replace").strip().splitlines()
            raise WarehouseError(f"ClickHouse refused ({status}): {first[0] if first else 'no reason given'}")
        return reply

    def _post(self, target: str, data: Payload) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        if isinstance(data, bytes):
            self._conn.request("POST", target, body=data, headers=self._headers)
        else:
            self._conn.request("POST", target, body=data(), headers=self._headers, encode_chunked=True)
        response = self._conn.getresponse()
        return response.status, response.read()

    def _io_error(self, exc: BaseException) -> str:
        if isinstance(exc, socket.gaierror):
            return cannot_resolve(self.host, exc)
        if isinstance(exc, http.client.RemoteDisconnected):
            return f"ClickHouse at {self.where} closed the connection without answering"
        return f"ClickHouse at {self.where}: {describe_io_error(exc, self.timeout)}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


__all__ = ["ClickHouseClient", "Payload", "WarehouseError", "literal"]
