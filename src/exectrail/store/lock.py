"""Taking SQLite's write lock without starving other writers."""

from __future__ import annotations

import sqlite3
import time

BUSY_TIMEOUT_S = 30.0
POLL_MS = 2


def begin_immediate(conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> None:
    """``BEGIN IMMEDIATE``, retrying every millisecond while another writer holds the lock.

    SQLite's own busy handler backs off to 100 ms sleeps, so a writer that commits back to back
    would starve the others (a live capture beside a long import); polling often lets them in
    between two transactions.
    """
    deadline = time.monotonic() + timeout
    conn.execute(f"PRAGMA busy_timeout = {POLL_MS}")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
            time.sleep(0.001)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
