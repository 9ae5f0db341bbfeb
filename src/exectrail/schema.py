"""The exec event and alarm schema, declared once.

:data:`EVENT_FIELDS` lists every field of an exec event in the order of its JSON object, with its
Python type (the :class:`~exectrail.model.ExecEvent` attribute), its kind, its SQLite column and
ClickHouse type and a one-line meaning. Everything else is derived from it: the JSON and CSV
columns and ``*_hex`` companions (:mod:`exectrail.jsonform`, :mod:`exectrail.output.writers`), the
store's columns, row codec and table (:mod:`exectrail.store.codec`, :mod:`exectrail.store.schema`),
the ClickHouse table and rows (:mod:`exectrail.sinks.clickhouse`) and the schema table of docs/schema.md
(:func:`markdown_table`, kept in step by a test). :data:`ALARM_FIELDS` declares an alarm's JSON
object (:func:`exectrail.jsonform.alarm_to_dict` writes it; a test checks that they agree).

To add a field to exec events: add an ``ExecEvent`` attribute, one :class:`Field` here (``store``
= the store schema version that adds its column, with a migration in ``store/schema.py``), and run
the tests: the docs/schema.md test prints the new table to paste.

Bottom layer: this module imports nothing of exectrail.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of value: how a field is encoded in JSON, in the store and in ClickHouse.
CONST = "const"  # JSON only: the message type ("exec")
TIME = "time"  # datetime; JSON ISO 8601 text with milliseconds, the store's time_ms
INT = "int"
BOOL = "bool"
NAME = "name"  # str exectrail itself names from a table (arch, syscall): no companion
TEXT = "text"  # str from the kernel that may carry non-UTF-8 (surrogateescape): a ``NAME_hex`` companion
ARGV = "argv"  # tuple of bytes: a JSON list of str with a list ``argv_hex`` companion
LIST = "list"  # tuple of ASCII names exectrail chose: a JSON list of str; stored comma-joined ('' for none)
#: dict already in its JSON form (text that is not UTF-8 carries a ``KEY_hex`` companion inside, as an
#: alarm's details do); stored as its JSON text with sorted keys, a ClickHouse String of that text
OBJECT = "object"
KINDS = (CONST, TIME, INT, BOOL, NAME, TEXT, ARGV, LIST, OBJECT)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an exec event.

    ``json_type`` and ``doc`` are what docs/schema.md shows (``doc`` shared by neighbours merges them
    into one row); ``python`` is the attribute's annotation (None: not an attribute). ``column`` is
    the SQLite column (None: not stored), ``sql_type`` its type, ``nullable`` whether the newest
    schema lets it be NULL, ``default`` its SQL default, ``store`` the store schema version that
    added it. ``clickhouse`` is the ClickHouse column type (None: not a column of its own)."""

    name: str
    kind: str
    python: str | None
    json_type: str
    doc: str
    column: str | None = None
    sql_type: str | None = None
    nullable: bool = True
    default: str | None = None
    store: int = 1
    clickhouse: str | None = None

    @property
    def companion(self) -> str | None:
        """``NAME_hex`` for text and argv (present in JSON only when not UTF-8), else None."""
        return f"{self.name}_hex" if self.kind in (TEXT, ARGV) else None


def _text(name: str, json_type: str, doc: str, store: int = 1) -> Field:
    return Field(
        name, TEXT, "str | None", json_type, doc, column=name, sql_type="TEXT", store=store,
        clickhouse="Nullable(String)",
    )  # fmt: skip


def _name(name: str, json_type: str, doc: str) -> Field:
    return Field(
        name, NAME, "str | None", json_type, doc, column=name, sql_type="TEXT", store=5,
        clickhouse="Nullable(String)",
    )  # fmt: skip


def _object(name: str, doc: str) -> Field:
    return Field(
        name, OBJECT, "dict[str, Any] | None", "object\\|null", doc, column=name, sql_type="TEXT", store=5,
        clickhouse="Nullable(String)",
    )  # fmt: skip


def _id(name: str, doc: str) -> Field:
    return Field(
        name,
        INT,
        "int | None",
        "int\\|null",
        doc,
        column=name,
        sql_type="INTEGER",
        clickhouse="Nullable(UInt32)",
    )


_NAMES = "user/group names of `uid`, `euid`, `auid`, `gid` (see `names_source`); null when unknown or unset"
_CGROUP = (
    "live only: the cgroup path (the v2 one; on a hybrid host systemd's `name=systemd` one), systemd "
    "unit, container id and runtime (docker, containerd, cri-o, podman, …) from /proc/PID/cgroup at "
    "capture (see `cgroup_source`)"
)
_CREDENTIALS = "process and credentials at the exec"
_LOGIN = "login uid and session; null when unset (4294967295)"
_RESULT = "result; failed execs have the errno as a negative `exit` (-2 ENOENT, -13 EACCES, -8 ENOEXEC)"
_CALLER = "for a failed exec these are the *caller's*"

_IDS = ("pid", "ppid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid")

#: Every field of an exec event, in the order of its JSON object (companions follow their field).
EVENT_FIELDS: tuple[Field, ...] = (
    Field("type", CONST, None, '`"exec"`', 'record kind (alarms have `"alarm"`)'),
    Field(
        "time", TIME, "datetime", "str", "UTC ISO 8601 with milliseconds, `2026-11-25T14:40:47.506Z`",
        column="time_ms", sql_type="INTEGER", nullable=False,
    ),
    Field(
        "serial", INT, "int", "int", "audit serial number of the event",
        column="serial", sql_type="INTEGER", nullable=False, clickhouse="UInt64",
    ),
    _text("node", "str\\|null", "`node=` name when auditd writes one"),
    Field(
        "arch", NAME, "str | None", "str\\|null",
        "`x86_64`, `i386`, `aarch64`, `arm`, … (`0x…` when unknown)",
        column="arch", sql_type="TEXT", clickhouse="Nullable(String)",
    ),
    Field(
        "syscall", NAME, "str | None", "str\\|null", "`execve` or `execveat`",
        column="syscall", sql_type="TEXT", clickhouse="Nullable(String)",
    ),
    Field(
        "success", BOOL, "bool | None", "bool\\|null", _RESULT,
        column="success", sql_type="INTEGER", clickhouse="Nullable(UInt8)",
    ),
    Field(
        "exit", INT, "int | None", "int\\|null", _RESULT,
        column="exit", sql_type="INTEGER", clickhouse="Nullable(Int64)",
    ),
    *(_id(name, _CREDENTIALS) for name in _IDS),
    _id("auid", _LOGIN),
    _id("ses", _LOGIN),
    _text("tty", "str\\|null", "null for `(none)`"),
    _text("comm", "str", _CALLER),
    _text("exe", "str", _CALLER),
    _text("cwd", "str\\|null", "working directory"),
    _text(
        "path", "str\\|null",
        "the file the exec asked for (PATH item 0 as logged; "
        "relative to a dirfd for execveat, empty for fexecve)",
    ),
    _id("argc", "as logged"),
    Field(
        "argv", ARGV, "tuple[bytes, ...] | None", "list of str\\|null",
        "byte-exact arguments, decoded as UTF-8 with U+FFFD for invalid bytes; "
        "null when there is no EXECVE record (failed execs)",
        column="argv", sql_type="BLOB", clickhouse="Array(String)",
    ),
    _text("key", "str\\|null", "audit rule key(s), comma-joined"),
    _text(
        "proctitle", "str\\|null",
        "information only: set by the process itself, truncated at 128 bytes, spoofable — never argv",
    ),
    Field(
        "incomplete", BOOL, "bool", "bool",
        "always present: true when records of the event are known to be missing "
        "(e.g. its SYSCALL line was removed)",
        column="incomplete", sql_type="INTEGER", nullable=False, default="0", store=3, clickhouse="UInt8",
    ),
    # Context from the event's own records (issue 14). After ``incomplete``: the store adds columns at
    # the end of its table, and a row's digest leaves out trailing columns that hold what the
    # migration gave old rows, so the JSON, the table and the digest keep one order.
    Field(
        "script", TEXT, "str | None", "str\\|null",
        "the script an interpreter was told to run (`#!` exec: PATH item 0; `python3 x.py`, `sh x.sh`, "
        "`env perl x.pl`…: the file operand), absolute when the cwd allows; null when none",
        column="script", sql_type="TEXT", store=4, clickhouse="Nullable(String)",
    ),
    Field(
        "fileless", LIST, "tuple[str, ...]", "list of str",
        "always present: flags of a fileless or odd exec, in this order: `memfd`, `deleted`, `fd` "
        "(fexecve, `/proc/*/fd/N`), `scratch-dir` (`/tmp`, `/dev/shm`, `/var/tmp`, `/run/user/*`, "
        "a hidden directory), `loader` (the dynamic loader run directly); `[]` when none",
        column="fileless", sql_type="TEXT", nullable=False, default="''", store=4,
        clickhouse="Array(LowCardinality(String))",
    ),
    # Identity, parent, names and what live capture reads from /proc (issue 14; store schema 5).
    _name(
        "exec_id", "str\\|null",
        "this exec's id, unique across hosts and boots: 32 hex digits of BLAKE2b(host identity, time, "
        "serial) (host identity: `node=` when logged, else the capturing host's machine id); the same "
        "event gets the same id live and from its log",
    ),
    _name(
        "parent_exec_id", "str\\|null",
        "`exec_id` of the parent's exec (the program the parent process was running), when known",
    ),
    _object(
        "parent",
        "the parent process: `exec_id`, `pid`, `exe`, `argv` (text, U+FFFD for bytes that are not UTF-8, "
        "with `exe_hex`/`argv_hex` inside), `time` (its exec; for `source` `proc` its start), `source`: "
        "`trail` (an earlier exec of that pid in this stream, at or before this one: pid reuse handled "
        "by time) or `proc` (read from /proc at capture: not audit evidence); null when unknown",
    ),
    _text("uid_name", "str\\|null", _NAMES, 5),
    _text("euid_name", "str\\|null", _NAMES, 5),
    _text("auid_name", "str\\|null", _NAMES, 5),
    _text("gid_name", "str\\|null", _NAMES, 5),
    _name(
        "names_source", "str\\|null",
        "`auditd` (the ENRICHED part of auditd's line: its lookup when it wrote the line) or `nss` "
        "(exectrail's lookup at capture); null when no name is known",
    ),
    _text("cgroup", "str\\|null", _CGROUP, 5),
    _text("systemd_unit", "str\\|null", _CGROUP, 5),
    _name("container_id", "str\\|null", _CGROUP),
    _name("container_runtime", "str\\|null", _CGROUP),
    _name(
        "cgroup_source", "str\\|null",
        "`proc` (this process's /proc/PID/cgroup at capture) or `inherited` (it was gone before it "
        "could be read: its parent's); null when not captured live",
    ),
    _object(
        "exe_hash",
        "live only: the executed file's `sha256`, the `dev` (`MAJOR:MINOR`) and `inode` it was read "
        "from (the inode the exec's PATH record names), its `mtime`, `ctime` and `hashed_at`; null "
        "with `exe_hash_missing`",
    ),
    _name(
        "exe_hash_missing", "str\\|null",
        "why `exe_hash` is null: `not-live` (from a log), `gone` (the process exited first), `replaced` "
        "(not the inode the PATH records name: the pid exec'd again), `too-large`, `unreadable`, "
        "`not-regular`, `changed` (written while read), `busy` (hash queue full), `late` (not hashed in "
        "time), `no-pid`",
    ),
    _object(
        "env",
        "live only: the chosen environment variables that were set (default `LD_PRELOAD`, "
        "`LD_LIBRARY_PATH`), from /proc/PID/environ after the exec (the process's own memory: "
        "information, not evidence); `{}` when none is set; null with `env_missing`",
    ),
    _name(
        "env_missing", "str\\|null",
        "why `env` is null: `not-live`, `gone`, `replaced`, `unreadable`, `truncated` (a chosen variable "
        "may lie past the read limit), `no-pid`",
    ),
)  # fmt: skip

BY_NAME: dict[str, Field] = {f.name: f for f in EVENT_FIELDS}
#: The context fields, after ``incomplete`` (:mod:`exectrail.enrich` fills them), in order.
CONTEXT_FIELDS: tuple[Field, ...] = EVENT_FIELDS[[f.name for f in EVENT_FIELDS].index("incomplete") + 1 :]
#: The ExecEvent attributes, in its (and the JSON's) order.
ATTRIBUTES: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.python is not None)
#: Text fields that get a ``NAME_hex`` companion (the raw bytes) when they are not valid UTF-8.
HEX_TEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.kind == TEXT)
#: Every JSON key an exec event may have, companions right after their field (the CSV columns).
JSON_COLUMNS: tuple[str, ...] = tuple(
    name for f in EVENT_FIELDS for name in (f.name, f.companion) if name is not None
)
#: The fields the store keeps, in table order (``seq``, ``digest`` and ``chain`` come on top).
STORED: tuple[Field, ...] = tuple(f for f in EVENT_FIELDS if f.column is not None)
STORE_COLUMNS: tuple[str, ...] = tuple(f.column for f in STORED if f.column is not None)

_COMPANION_DOCS = {
    ARGV: (
        "list of str",
        "present only when some argument is not valid UTF-8: every argument's raw bytes as hex",
    ),
    TEXT: (
        "str",
        "present only when that field is not valid UTF-8 (it then shows U+FFFD): its raw bytes as hex, "
        "right after the field",
    ),
}


def clickhouse_columns() -> list[tuple[str, str]]:
    """(column, ClickHouse type) of every exec field with a column of its own, companions included
    (text companions ``Nullable(String)``, ``argv_hex`` ``Array(String)``), in JSON order."""
    out = []
    for f in EVENT_FIELDS:
        if f.clickhouse is not None:
            out.append((f.name, f.clickhouse))
            if f.companion is not None:
                out.append((f.companion, "Array(String)" if f.kind == ARGV else "Nullable(String)"))
    return out


def markdown_table() -> str:
    """The table of the JSON schema in docs/schema.md: one row per field, neighbours with the same meaning
    merged, ``argv_hex`` after ``argv`` and the text companions in one row after it."""
    rows: list[tuple[list[str], list[str], str]] = []
    for f in EVENT_FIELDS:
        if rows and rows[-1][2] == f.doc:
            rows[-1][0].append(f.name)
            rows[-1][1].append(f.json_type)
        else:
            rows.append(([f.name], [f.json_type], f.doc))
        if f.kind == ARGV:
            json_type, doc = _COMPANION_DOCS[ARGV]
            rows.append(([f"{f.name}_hex"], [json_type], doc))
            json_type, doc = _COMPANION_DOCS[TEXT]
            rows.append(([f"{name}_hex" for name in HEX_TEXT_FIELDS], [json_type], doc))
    lines = ["| field | type | meaning |", "| --- | --- | --- |"]
    for names, types, doc in rows:
        shown = types[0] if len(set(types)) == 1 else ", ".join(types)
        lines.append(f"| {', '.join(f'`{n}`' for n in names)} | {shown} | {doc} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class AlarmField:
    """One key of an alarm's JSON object; ``companion`` when text that is not UTF-8 gets one."""

    name: str
    json_type: str
    doc: str
    companion: str | None = None


#: The JSON object of an alarm (``review``/``alarms --format jsonl``, the sinks), in order.
ALARM_FIELDS: tuple[AlarmField, ...] = (
    AlarmField("type", '`"alarm"`', "record kind"),
    AlarmField("kind", "str", "stable machine name: `audit-disabled`, `rules-removed`, `events-lost`, …"),
    AlarmField("time", "str", "UTC ISO 8601 with milliseconds"),
    AlarmField("certainty", "str", "`certain` or `suspicious`"),
    AlarmField("host", "str\\|null", "the host it concerns", "host_hex"),
    AlarmField("summary", "str", "one human line", "summary_hex"),
    AlarmField(
        "details", "object", "the readings behind it; a string `KEY` that is not UTF-8 gets `KEY_hex`"
    ),
    AlarmField("evidence", "list of str", "the record lines or readings that showed it", "evidence_hex"),
)
ALARM_JSON_COLUMNS: tuple[str, ...] = tuple(
    name for f in ALARM_FIELDS for name in (f.name, f.companion) if name is not None
)
