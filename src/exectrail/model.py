"""The event model that flows through the whole pipeline.

Sources yield :class:`Record` objects (one audit record each); the assembler groups them into
events; the exec builder turns a group into an :class:`ExecEvent`. Every sink and query works on
``ExecEvent``. Bad input never raises out of the pipeline: it becomes a :class:`Diagnostic`
counted in :class:`Diagnostics`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from exectrail import jsonform
from exectrail.timefmt import timestamp_to_datetime

UNSET_ID = 4294967295  # auid / ses when never set (and (uint32)-1 elsewhere)


class Record:
    """One audit record: type name, timestamp, serial, node and the raw field text.

    ``key`` is the event identity as it appears on the wire (``b"SEC.MS:SERIAL"``), kept as bytes
    so grouping needs no number conversion. ``body`` is the raw part only: for ENRICHED lines the
    interpreted part after 0x1d is cut off (the raw part is authoritative); a SYSCALL record keeps
    it in ``interpreted`` (auditd's names for the ids, at the time it wrote the line).
    """

    __slots__ = ("body", "interpreted", "key", "node", "origin", "type")

    def __init__(
        self,
        type: str,
        key: bytes,
        body: bytes,
        node: str | None = None,
        origin: str | None = None,
        interpreted: bytes | None = None,
    ) -> None:
        self.type = type
        self.key = key
        self.body = body
        self.node = node
        self.origin = origin  # "file:line" or None, for diagnostics
        self.interpreted = interpreted

    @property
    def seconds(self) -> int:
        return int(self.key.partition(b".")[0])

    @property
    def milliseconds(self) -> int:
        return int(self.key.partition(b".")[2].partition(b":")[0])

    @property
    def serial(self) -> int:
        return int(self.key.rpartition(b":")[2])

    @property
    def time(self) -> datetime:
        return timestamp_to_datetime(self.seconds, self.milliseconds)

    def __repr__(self) -> str:
        return f"Record({self.type!r}, {self.key!r}, {self.body[:60]!r}...)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.type, self.key, self.body, self.node) == (other.type, other.key, other.body, other.node)

    def __hash__(self) -> int:
        return hash((self.type, self.key, self.body, self.node))


@dataclass(frozen=True, slots=True)
class ExecEvent:
    """One execve/execveat attempt, successful or failed.

    Text fields that the kernel logs as quoted-or-hex (comm, exe, cwd, path, key) are decoded with
    ``surrogateescape`` so that non-UTF-8 bytes survive exactly; ``argv`` keeps the raw bytes.
    The SYSCALL-derived fields (arch … fsgid) are None when that record was missing or a value could
    not be decoded; ``incomplete`` is True when records of the event are known to be missing.
    The fields from ``script`` on are context (:mod:`exectrail.enrich`): from the same records, from
    the stream before it (``parent``) and, live, from /proc. ``parent``, ``exe_hash`` and ``env`` are
    dicts already in their JSON form (built once by the enrichment, never changed afterwards).
    """

    time: datetime
    serial: int
    node: str | None
    arch: str | None
    syscall: str | None
    success: bool | None
    exit: int | None
    pid: int | None
    ppid: int | None
    uid: int | None
    euid: int | None
    suid: int | None
    fsuid: int | None
    gid: int | None
    egid: int | None
    sgid: int | None
    fsgid: int | None
    auid: int | None
    ses: int | None
    tty: str | None
    comm: str | None
    exe: str | None
    cwd: str | None
    path: str | None
    argc: int | None
    argv: tuple[bytes, ...] | None
    key: str | None
    proctitle: str | None
    incomplete: bool
    script: str | None = None
    fileless: tuple[str, ...] = ()
    # context (exectrail.enrich): none unless given
    exec_id: str | None = None
    parent_exec_id: str | None = None
    parent: dict[str, Any] | None = field(default=None, hash=False)
    uid_name: str | None = None
    euid_name: str | None = None
    auid_name: str | None = None
    gid_name: str | None = None
    names_source: str | None = None
    cgroup: str | None = None
    systemd_unit: str | None = None
    container_id: str | None = None
    container_runtime: str | None = None
    cgroup_source: str | None = None
    exe_hash: dict[str, Any] | None = field(default=None, hash=False)
    exe_hash_missing: str | None = None
    env: dict[str, Any] | None = field(default=None, hash=False)
    env_missing: str | None = None

    @property
    def event_id(self) -> str:
        """Identity used for de-duplication: node, timestamp and serial."""
        return event_id(self.node, self.time, self.serial)

    @property
    def epoch_ms(self) -> int:
        return int(self.time.timestamp()) * 1000 + self.time.microsecond // 1000

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON object ``review --format jsonl`` prints for this event (see docs/schema.md)."""
        return jsonform.event_to_dict(self)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> ExecEvent:
        """The event of its JSON object (:meth:`to_dict`), byte-exact (``*_hex`` companions are read
        back). KeyError, TypeError or ValueError when ``body`` is not such an object."""
        return cls(**jsonform.event_values(body))

    # The JSON schema's derived fields (exectrail.schema), as attributes: ``type``, and the raw
    # bytes as hex of a text field or argv that is not valid UTF-8 (None when it is, as in the JSON).
    @property
    def type(self) -> str:
        return "exec"

    @property
    def node_hex(self) -> str | None:
        return _hex(self.node)

    @property
    def tty_hex(self) -> str | None:
        return _hex(self.tty)

    @property
    def comm_hex(self) -> str | None:
        return _hex(self.comm)

    @property
    def exe_hex(self) -> str | None:
        return _hex(self.exe)

    @property
    def cwd_hex(self) -> str | None:
        return _hex(self.cwd)

    @property
    def path_hex(self) -> str | None:
        return _hex(self.path)

    @property
    def key_hex(self) -> str | None:
        return _hex(self.key)

    @property
    def proctitle_hex(self) -> str | None:
        return _hex(self.proctitle)

    @property
    def script_hex(self) -> str | None:
        return _hex(self.script)

    @property
    def uid_name_hex(self) -> str | None:
        return _hex(self.uid_name)

    @property
    def euid_name_hex(self) -> str | None:
        return _hex(self.euid_name)

    @property
    def auid_name_hex(self) -> str | None:
        return _hex(self.auid_name)

    @property
    def gid_name_hex(self) -> str | None:
        return _hex(self.gid_name)

    @property
    def cgroup_hex(self) -> str | None:
        return _hex(self.cgroup)

    @property
    def systemd_unit_hex(self) -> str | None:
        return _hex(self.systemd_unit)

    @property
    def argv_hex(self) -> list[str] | None:
        return None if self.argv is None else jsonform.decode_argv(self.argv)[1]


def _hex(text: str | None) -> str | None:
    """The bytes of ``text`` as hex when ``surrogateescape`` kept some that are not UTF-8, else None."""
    return None if text is None else jsonform.raw_hex(text)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def fast_constructor(cls: Callable[_P, _T]) -> Callable[_P, _T]:
    """``cls(...)`` for a frozen, slotted dataclass without defaults, about five times cheaper.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (28 calls,
    2.6 µs, for an :class:`ExecEvent`). This fills a plain slotted twin with the same fields and
    layout instead, then gives the object its real class, which Python allows between classes with
    identical slots. The result is an ordinary, frozen ``cls`` instance; fields left out get their
    defaults. Checked once, here: a class this cannot build exactly (``__post_init__``, default
    factories, a different layout) gets ``cls``.
    """
    real: Any = cls
    if not dataclasses.is_dataclass(real) or not isinstance(real, type) or hasattr(real, "__post_init__"):
        return cls
    fields = dataclasses.fields(real)
    missing = dataclasses.MISSING
    if any(f.default_factory is not missing for f in fields):
        return cls
    twin: Any = dataclasses.make_dataclass(
        f"_{real.__name__}Draft",
        [(f.name, f.type) if f.default is missing else (f.name, f.type, f.default) for f in fields],
        slots=True,
        repr=False,
        eq=False,
    )

    def construct(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        obj = twin(*args, **kwargs)
        obj.__class__ = real
        return obj  # type: ignore[no-any-return]

    try:
        probe = [object() for _ in fields]
        fast: Any = construct
        made, expected = fast(*probe), real(*probe)
        same = type(made) is real and all(getattr(made, f.name) is getattr(expected, f.name) for f in fields)
    except TypeError:  # "object layout differs" and the like
        same = False
    return construct if same else cls


def event_id(node: str | None, time: datetime, serial: int) -> str:
    """``node:SECONDS.MS:SERIAL`` (node empty when auditd logged none)."""
    ms = time.microsecond // 1000
    return f"{node or ''}:{int(time.timestamp())}.{ms:03d}:{serial}"


#: ``ExecEvent(...)`` for the event builder, where one is made per exec (see :func:`fast_constructor`).
new_exec_event = fast_constructor(ExecEvent)

CERTAIN = "certain"
SUSPICIOUS = "suspicious"


@dataclass(frozen=True, slots=True)
class Alarm:
    """Evidence that someone interfered with the audit trail (or that it was cut).

    ``kind`` is a stable machine name (``audit-disabled``, ``rules-removed``, ``events-lost``,
    ``collector-stopped``, ``blind-spot``, …); ``summary`` one human line; ``certainty`` is
    :data:`CERTAIN` or :data:`SUSPICIOUS`; ``evidence`` holds the record lines or readings that
    showed it, as text.
    """

    kind: str
    time: datetime
    summary: str
    certainty: str = CERTAIN
    host: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON object ``--format jsonl`` prints for this alarm."""
        return jsonform.alarm_to_dict(self)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Alarm:
        """The alarm of its JSON object (:meth:`to_dict`), byte-exact. KeyError, TypeError or
        ValueError when ``body`` is not such an object."""
        return cls(**jsonform.alarm_values(body))


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something in the input that could not be used as it was."""

    kind: str
    reason: str
    origin: str | None = None  # "file:line" when known


@dataclass
class Diagnostics:
    """Counts diagnostics by kind and keeps the first few for ``--verbose``."""

    keep: int = 50
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[Diagnostic] = field(default_factory=list)

    def add(self, kind: str, reason: str, origin: str | None = None) -> None:
        self.counts[kind] += 1
        if len(self.samples) < self.keep:
            self.samples.append(Diagnostic(kind, reason, origin))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """``3 malformed-line, 1 argc-mismatch`` or ``none``."""
        if not self.counts:
            return "none"
        return ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items(), key=lambda kv: -kv[1]))
