"""The store's SQL schema and its migrations.

``schema_version`` holds one row per applied migration; the highest ``version`` is the schema the file
has. A migration is a list of SQL statements run in one transaction, so a file is always at exactly
one version. To change the schema, append a :class:`Migration` (for example version 2 adding an
``alarms`` table beside ``events``); never edit one that has shipped. The events table's columns
come from :mod:`exectrail.schema`, each field naming the version that added it (``Field.store``): a
new field gets a new version here that adds its column (``ALTER TABLE events ADD COLUMN …``,
:func:`_column` writes it), and a test checks that a migrated store has exactly the declared columns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from exectrail.schema import STORED, Field
from exectrail.store.lock import begin_immediate

#: ``PRAGMA application_id`` of an exectrail store ("EXTR"), so other SQLite files are told apart.
APPLICATION_ID = 0x45585452


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


#: Columns that may be NULL in schema 1 (the others got NOT NULL, which schema 3 lifts): history,
#: as shipped; from schema 3 on each column is as :mod:`exectrail.schema` declares it.
_NULLABLE_V1 = {
    "node",
    "auid",
    "ses",
    "tty",
    "comm",
    "exe",
    "cwd",
    "path",
    "argc",
    "argv",
    "key",
    "proctitle",
}


def _column(field: Field, nullable: set[str] | None = None) -> str:
    """The column's definition: ``name TYPE [NOT NULL] [DEFAULT …]`` (``nullable``: schema 1's rule)."""
    null = field.nullable if nullable is None else field.column in nullable
    default = "" if field.default is None else f" DEFAULT {field.default}"
    return f"{field.column} {field.sql_type}" + ("" if null else " NOT NULL") + default


def _events_table(name: str, version: int, nullable: set[str] | None = None) -> str:
    """``CREATE TABLE`` of the events table as store schema ``version`` has it."""
    body = ",\n  ".join(_column(f, nullable) for f in _fields(version))
    tail = "digest BLOB NOT NULL,\n  chain BLOB NOT NULL"
    return f"CREATE TABLE {name} (\n  seq INTEGER PRIMARY KEY,\n  {body},\n  {tail}\n)"


def _fields(version: int) -> tuple[Field, ...]:
    """The stored fields of store schema ``version`` (each field says which version added it)."""
    return tuple(f for f in STORED if f.store <= version)


_V1_COLUMNS = tuple(str(f.column) for f in _fields(1))  # schema 1 and 2: every column but ``incomplete``
_INDEXES = (
    "CREATE UNIQUE INDEX events_identity ON events(time_ms, serial, ifnull(node, ''))",
    "CREATE INDEX events_pid ON events(pid, time_ms)",
    "CREATE INDEX events_ppid ON events(ppid, time_ms)",
    "CREATE INDEX events_ses ON events(ses, time_ms)",
    "CREATE INDEX events_auid ON events(auid, time_ms)",
    "CREATE INDEX events_exe ON events(exe, time_ms)",
)
_V1_LIST = ", ".join(_V1_COLUMNS)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "exec events, hash chain, indexes, full-text search over command lines",
        (
            _events_table("events", 1, _NULLABLE_V1),
            *_INDEXES,
            "CREATE VIRTUAL TABLE events_fts USING fts5(cmdline, content='', columnsize=0)",
        ),
    ),
    Migration(
        2,
        "alarms (interference with the audit trail), with their own hash chain",
        (
            "CREATE TABLE alarms (\n  seq INTEGER PRIMARY KEY,\n  identity TEXT NOT NULL,\n"
            "  kind TEXT NOT NULL,\n  time_ms INTEGER NOT NULL,\n  certainty TEXT NOT NULL,\n"
            "  host TEXT,\n  summary TEXT NOT NULL,\n  details TEXT NOT NULL,\n  evidence TEXT NOT NULL,\n"
            "  digest BLOB NOT NULL,\n  chain BLOB NOT NULL\n)",
            "CREATE UNIQUE INDEX alarms_identity ON alarms(identity)",
            "CREATE INDEX alarms_time ON alarms(time_ms)",
        ),
    ),
    Migration(
        3,
        "events from incomplete groups: SYSCALL fields nullable, an 'incomplete' flag",
        (  # SQLite cannot drop NOT NULL in place: rebuild the table, keeping seq, digest and chain
            _events_table("events_v3", 3),
            f"INSERT INTO events_v3 (seq, {_V1_LIST}, incomplete, digest, chain) "
            f"SELECT seq, {_V1_LIST}, 0, digest, chain FROM events ORDER BY seq",
            "DROP TABLE events",
            "ALTER TABLE events_v3 RENAME TO events",
            *_INDEXES,
        ),
    ),
    Migration(
        4,
        "context from the event's own records: the script an interpreter ran, fileless flags",
        tuple(f"ALTER TABLE events ADD COLUMN {_column(f)}" for f in STORED if f.store == 4),
    ),
    Migration(
        5,
        "context: exec ids, the parent, user names, cgroup and container, the executable's hash, "
        "chosen environment variables (older rows: NULL)",
        (
            *(f"ALTER TABLE events ADD COLUMN {_column(f)}" for f in STORED if f.store == 5),
            "CREATE INDEX events_exec_id ON events(exec_id)",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of an exectrail store (0 for an empty file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def is_empty(conn: sqlite3.Connection) -> bool:
    """True for a file with no tables at all (a new store)."""
    return int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]) == 0


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the store up to the newest migration in one transaction each; return the version.

    The caller has checked that the file is an exectrail store (or empty) and not newer than us.
    """
    version = current_version(conn)
    for migration in migrations:
        if migration.version <= version:
            continue
        begin_immediate(conn)
        try:
            if current_version(conn) >= migration.version:  # another process got there first
                conn.execute("ROLLBACK")
                continue
            if migration.version == 1:
                conn.execute(
                    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                    "applied_at TEXT NOT NULL, description TEXT NOT NULL)"
                )
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                (migration.version, datetime.now(UTC).isoformat(timespec="seconds"), migration.description),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        version = migration.version
    return version
