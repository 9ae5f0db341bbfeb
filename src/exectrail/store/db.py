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
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from exectrail import safefs
from exectrail.errors import ExectrailError, InputError
from exectrail.schema import STORED
from exectrail.store import schema
from exectrail.store.errors import StoreError as StoreError  # re-exported: db is where callers look
from exectrail.store.errors import StoreFullError as StoreFullError
from exectrail.store.lock import BUSY_TIMEOUT_S
from exectrail.store.reader import register_functions

#: files SQLite keeps next to a store (checked before SQLite opens them; it gives them the store's mode)
SIBLINGS = ("-wal", "-shm", "-journal")
#: TEXT that is not valid UTF-8 (never written by exectrail) reads as str with surrogates, not an error
TEXT_FACTORY = functools.partial(bytes.decode, encoding="utf-8", errors="surrogateescape")


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


def _secure_files(path: Path, create: bool) -> Path:
    """Check (or create, 0600) the store and check its -wal/-shm/-journal the way :mod:`exectrail.safefs`
    says; return the store's real path. SQLite follows symbolic links when it opens those, so links
    are refused here, and the directory that holds them must be writable by nobody else."""
    directory = safefs.secure_dir(path.parent, create=create)
    real = directory / path.name
    with safefs.open_dir(directory) as dir_fd:
        try:
            os.close(safefs.open_in(dir_fd, real, path.name, os.O_RDONLY))
        except FileNotFoundError:
            if not create:
                raise InputError(
                    f"{path}: no exectrail store here (create one with exectrail import or watch)"
                ) from None
            with contextlib.suppress(FileExistsError):
                os.close(safefs.open_in(dir_fd, real, path.name, os.O_RDWR, exclusive=True))
            os.close(safefs.open_in(dir_fd, real, path.name, os.O_RDONLY))
        for suffix in SIBLINGS:  # SQLite makes them (with the store's mode) in this private directory
            name = path.name + suffix
            with contextlib.suppress(FileNotFoundError):
                os.close(safefs.open_in(dir_fd, directory / name, name, os.O_RDONLY))
    return real


def _secured(path: Path, create: bool) -> Path:
    """:func:`_secure_files` with OS errors as one line."""
    verb = "create" if create and not os.path.lexists(path) else "open"
    try:
        return _secure_files(path, create)
    except OSError as exc:
        raise StoreError(f"cannot {verb} {exc.filename or path}: {exc.strerror or exc}") from None


def _read_in_place(path: Path) -> bool:
    """For a reader: True when the store's directory is not private (another user's, or open to
    others), so SQLite must not create its -shm there: the store is then read as immutable, which
    is complete only without pending changes in a -wal (else refused)."""
    real = path.resolve()
    try:
        safefs.check_chain(str(real.parent))
        return False
    except OSError:
        return False  # SQLite reports what it cannot open
    except safefs.UnsafePathError as exc:
        reason = str(exc).partition("; refused")[0]
    with contextlib.suppress(FileNotFoundError):
        if os.lstat(real.with_name(real.name + "-wal")).st_size:
            raise safefs.UnsafePathError(
                f"{reason}; reading a store with pending changes (-wal) there would let SQLite create "
                "files in it: copy the store and its -wal to a private directory first"
            )
    return True


def _refuse_linked_siblings(path: Path) -> None:
    """A reader: SQLite may create -shm (and truncate it) next to the store; never through a link."""
    real = path.resolve()
    for suffix in SIBLINGS:
        sibling = real.with_name(real.name + suffix)
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.lstat(sibling).st_mode):
                raise safefs.UnsafePathError(f"{sibling}: is a symbolic link; refused")


def _connect(path: Path, readonly: bool, immutable: bool = False) -> sqlite3.Connection:
    if not readonly:
        with safefs.private_umask():
            return sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    if immutable:
        return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
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
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if readonly:
        if not path.exists():
            raise InputError(f"{path}: no exectrail store here (create one with exectrail import or watch)")
        _refuse_linked_siblings(path)
        immutable = _read_in_place(path)
        target = path
    else:
        target, immutable = _secured(path, create), False
    with sqlite_errors(path):
        conn = _connect(target, readonly, immutable)
        try:
            version = _check(path, conn)
            if version == 0 and readonly:
                raise InputError(f"{path}: empty file, not an exectrail store")
            if version < schema.LATEST:
                if readonly:
                    try:
                        with contextlib.closing(_connect(_secured(path, False), readonly=False)) as writer:
                            _prepare_writer(writer)
                            schema.migrate(writer)
                    except (ExectrailError, sqlite3.Error):
                        if not _read_old_schema(conn, version):  # read-only media, not our directory
                            raise
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


def _read_old_schema(conn: sqlite3.Connection, version: int) -> bool:
    """Let a reader query a store it cannot migrate (read-only media, a directory that is not
    private): TEMP objects stand in for what later schemas added (nothing is written to the file).
    False for a version too old to stand in for."""
    if version not in (1, 2, 3):
        return False
    if version == 1:  # no alarms table yet: an empty one
        for statement in schema.MIGRATIONS[1].statements:
            conn.execute(statement.replace("CREATE TABLE ", "CREATE TEMP TABLE ", 1))
    added = ", ".join(f"{f.default or 'NULL'} AS {f.column}" for f in STORED if f.store > max(version, 2))
    conn.execute(f"CREATE TEMP VIEW events AS SELECT *, {added} FROM main.events")
    return True


def _prepare_writer(conn: sqlite3.Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL mode (journal mode is {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -131072")
