"""Opening a store file: default path, creation with mode 0600, checks, migrations, SQLite errors.

Every SQLite failure that a user can cause (a file that is not a database, a corrupt one, a newer
schema, a read-only place, a full disk, a lock held too long) becomes a one-line
:class:`~exectrail.errors.ExectrailError` through :func:`store_error`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from exectrail.errors import ExectrailError, InputError
from exectrail.store import schema
from exectrail.store.lock import BUSY_TIMEOUT_S
from exectrail.store.reader import register_functions

#: TEXT that is not valid UTF-8 (never written by exectrail) reads as str with surrogates, not an error
TEXT_FACTORY = functools.partial(bytes.decode, encoding="utf-8", errors="surrogateescape")


class StoreError(ExectrailError):
    """The store cannot be opened, read or written."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full; the batch in flight was rolled back."""


def default_db_path() -> Path:
    """``/var/lib/exectrail/events.db`` for root, ``$XDG_DATA_HOME/exectrail/events.db`` otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/exectrail/events.db")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / "exectrail" / "events.db"


def store_error(path: Path, exc: BaseException) -> StoreError:
    """A one-line error for an SQLite (or OS) failure on the store at ``path``."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, OSError):
        return StoreError(f"{path}: {exc.strerror or text}")
    if "disk is full" in low or "disk full" in low:
        return StoreFullError(f"{path}: disk full")
    if "not a database" in low:
        return StoreError(f"{path}: not an exectrail store (not an SQLite database, or encrypted/corrupt)")
    if "malformed" in low or "corrupt" in low:
        return StoreError(f"{path}: the database is corrupt ({text})")
    if "readonly" in low or "read-only" in low or "unable to open" in low:
        return StoreError(f"{path}: cannot write here (read-only file, directory or file system)")
    if "locked" in low or "busy" in low:
        return StoreError(f"{path}: locked by another process for more than {BUSY_TIMEOUT_S:.0f} s")
    return StoreError(f"{path}: SQLite error: {text}")


@contextlib.contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """Translate sqlite3 errors raised inside the block with :func:`store_error`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise store_error(path, exc) from exc


def _create_file(path: Path) -> None:
    """An empty file with mode 0600 (its -wal/-shm files inherit the mode); parents 0700."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from None
    os.close(fd)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if not readonly:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        return conn
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    conn = sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc) and "readonly" not in str(exc):
            raise
        # a WAL store on a read-only medium without its -shm file: nobody can be writing it
        conn.close()
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    return conn


def _check(path: Path, conn: sqlite3.Connection) -> int:
    """The file's schema version; raise StoreError when it is not (or not yet) ours."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if schema.is_empty(conn):
        return 0
    version = schema.current_version(conn)
    if app_id != schema.APPLICATION_ID or version == 0:
        raise StoreError(f"{path}: an SQLite database, but not an exectrail store")
    if version > schema.LATEST:
        raise StoreError(
            f"{path}: schema version {version} is newer than this exectrail supports "
            f"({schema.LATEST}); upgrade exectrail"
        )
    return version


def open_connection(path: Path, *, create: bool, readonly: bool) -> sqlite3.Connection:
    """A checked connection to an up-to-date store at ``path``.

    ``create`` makes a new store when the file does not exist; otherwise a missing file is an
    :class:`InputError`. A reader (``readonly``) connection migrates an old store through a
    short-lived writing connection first.
    """
    if not path.exists():
        if not create:
            raise InputError(f"{path}: no exectrail store here (create one with exectrail import or watch)")
        _create_file(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    with sqlite_errors(path):
        conn = _connect(path, readonly)
        try:
            version = _check(path, conn)
            if version == 0 and readonly:
                raise InputError(f"{path}: empty file, not an exectrail store")
            if version < schema.LATEST:
                if readonly:
                    with contextlib.closing(_connect(path, readonly=False)) as writer:
                        _prepare_writer(writer)
                        schema.migrate(writer)
                else:
                    _prepare_writer(conn)
                    schema.migrate(conn)
            elif not readonly:
                _prepare_writer(conn)
            register_functions(conn)
            conn.text_factory = TEXT_FACTORY
        except BaseException:
            conn.close()
            raise
    return conn


def _prepare_writer(conn: sqlite3.Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL mode (journal mode is {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -131072")
