"""Reading audit logs in a helper process while this one writes the store (``exectrail import``).

Parsing and writing each take one CPU; on two cores they overlap. The helper (forked, so it starts
at once and needs nothing pickled to begin) runs :func:`~exectrail.pipeline.read_exec_events`,
turns each event into :func:`~exectrail.store.writer.prepare`'s picklable form and sends batches
through a pipe; its diagnostics, read statistics and incomplete-event count come last. Where
``fork`` is unavailable, or when reading stdin, everything runs in this process instead, with the
same results. The helper dies with this process, even by SIGKILL (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from exectrail.errors import ExectrailError
from exectrail.lifeline import start_helper
from exectrail.model import Diagnostics
from exectrail.parse.logfile import STDIN, ReadStats
from exectrail.pipeline import EventBuilder, read_exec_events
from exectrail.store.writer import Prepared, prepare

BATCH = 250
PIPE_BYTES = 16 << 20  # the helper may run this far ahead (capped by /proc/sys/fs/pipe-max-size)
Progress = Callable[[int], None]


def _produce(paths: list[str], send: Callable[[Any], None], progress: bool) -> None:
    """Read ``paths`` and ``send`` ("events", [...]) batches, ("progress", n), then ("done", …)."""
    diagnostics, stats = Diagnostics(), ReadStats()
    builder = EventBuilder(diagnostics)
    batch: list[Prepared] = []
    callback = (lambda n: send(("progress", n))) if progress else None
    for event in read_exec_events(paths, diagnostics, stats, callback, builder):
        batch.append(prepare(event))
        if len(batch) >= BATCH:
            send(("events", batch))
            batch = []
    if batch:
        send(("events", batch))
    send(("done", diagnostics, stats, builder.incomplete))


def _child(paths: list[str], conn: Connection, progress: bool, parent: int) -> None:
    start_helper(parent)  # a kill -9 of `import` must not leave this reader running
    try:
        _produce(paths, conn.send, progress)
    except BaseException as exc:
        try:
            conn.send(("error", exc))
        except Exception:
            conn.send(("error", ExectrailError(f"reading failed: {type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _grow_pipe(conn: Connection) -> None:
    """A deep pipe, so the helper is not held up each time this process commits a batch."""
    try:
        limit = int(open("/proc/sys/fs/pipe-max-size").read())  # noqa: SIM115
    except (OSError, ValueError):
        limit = 1 << 20
    for size in (PIPE_BYTES, limit):
        try:
            fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, size)
            return
        except OSError:
            continue


class LogReader:
    """Prepared events of ``paths``; after the iteration: ``diagnostics``, ``stats``, ``incomplete``."""

    def __init__(self, paths: list[str], progress: Progress | None = None, background: bool = True) -> None:
        self.paths, self.progress = paths, progress
        self.diagnostics, self.stats, self.incomplete = Diagnostics(), ReadStats(), 0
        self._process: Any = None
        self._conn: Connection | None = None
        # stdin stays here: multiprocessing points a child's stdin at /dev/null
        if background and STDIN not in paths and "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            receive, send = ctx.Pipe(duplex=False)
            _grow_pipe(send)
            self._process = ctx.Process(
                target=_child, args=(paths, send, progress is not None, os.getpid()), daemon=True
            )
            self._process.start()
            send.close()
            self._conn = receive

    def __iter__(self) -> Iterator[Prepared]:
        if self._conn is None:
            yield from self._in_process()
            return
        while True:
            try:
                message = self._conn.recv()
            except EOFError:
                raise ExectrailError("the log reader process ended unexpectedly") from None
            kind = message[0]
            if kind == "events":
                yield from message[1]
            elif kind == "progress":
                if self.progress is not None:
                    self.progress(message[1])
            elif kind == "done":
                self.diagnostics, self.stats, self.incomplete = message[1], message[2], message[3]
                return
            else:
                raise message[1]

    def _in_process(self) -> Iterator[Prepared]:
        diagnostics, stats = Diagnostics(), ReadStats()
        builder = EventBuilder(diagnostics)
        for event in read_exec_events(self.paths, diagnostics, stats, self.progress, builder):
            yield prepare(event)
        self.diagnostics, self.stats, self.incomplete = diagnostics, stats, builder.incomplete

    def close(self) -> None:
        """Stop the helper (if it still runs) and wait for it."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(10)
