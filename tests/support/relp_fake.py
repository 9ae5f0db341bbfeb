"""A scripted RELP receiver on 127.0.0.1 for the protocol edge cases a real imrelp never shows on demand.

Each accepted connection runs ``script(session)`` in the server's thread; :class:`Session` reads whole
frames (checking, as imrelp does, that txnrs go 1, 2, 3 … without gaps) and writes raw bytes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exectrail.sinks.relpframe import Frame, FrameReader, encode

OPEN_OK = b"200 OK\nrelp_version=0\nrelp_software=fake\ncommands=syslog"


class Session:
    def __init__(self, conn: socket.socket, log: list[Frame]) -> None:
        self.conn, self.log = conn, log
        self.reader = FrameReader(16 << 20)
        self.expected_txnr = 1

    def read(self) -> Frame | None:
        """The next frame from the client (None when it closed), its txnr checked."""
        while (frame := self.reader.next()) is None:
            data = self.conn.recv(1 << 16)
            if not data:
                return None
            self.reader.feed(data)
        assert frame.txnr == self.expected_txnr, f"txnr {frame.txnr}, expected {self.expected_txnr}"
        self.expected_txnr += 1
        self.log.append(frame)
        return frame

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)

    def rsp(self, frame: Frame, data: bytes = b"200 OK") -> None:
        self.write(encode(frame.txnr, "rsp", data))

    def accept_open(self) -> None:
        frame = self.read()
        assert frame is not None and frame.command == "open", frame
        assert b"commands=syslog" in frame.data
        self.rsp(frame, OPEN_OK)

    def serve(self, count: int | None = None) -> None:
        """Answer ``200 OK`` to ``count`` commands (all, when None) until the client closes."""
        while count is None or count > 0:
            frame = self.read()
            if frame is None:
                return
            self.rsp(frame)
            if frame.command == "close":
                return
            if count is not None:
                count -= 1


Script = Callable[[Session], None]


def obliging(session: Session) -> None:
    """The script of a receiver that opens the session and answers every command ``200 OK``."""
    session.accept_open()
    session.serve()


@contextmanager
def fake_relp(*scripts: Script) -> Iterator[tuple[int, list[Frame], list[BaseException]]]:
    """Serve connection n with ``scripts[n]`` (the last one for all later connections); yields
    (port, every frame received, errors raised by the scripts)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()
    frames: list[Frame] = []
    errors: list[BaseException] = []
    conns: list[socket.socket] = []

    def run() -> None:
        index = 0
        while not stop.is_set():
            try:
                conn = server.accept()[0]
            except OSError:
                continue
            conns.append(conn)
            conn.settimeout(10)
            try:
                scripts[min(index, len(scripts) - 1)](Session(conn, frames))
            except (AssertionError, OSError) as exc:
                errors.append(exc)
            finally:
                index += 1
                conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), frames, errors
    finally:
        stop.set()
        for conn in conns:  # wakes a script blocked in recv
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        thread.join(15)
        server.close()
