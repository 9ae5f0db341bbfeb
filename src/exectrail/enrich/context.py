"""The context of every exec event that the stream itself gives: the event builder's hook.

:class:`ContextBuilder` is a :data:`~exectrail.assemble.execve.ContextHook`. For each exec event it
gives, in :data:`~exectrail.schema.CONTEXT_FIELDS` order:

* ``script``, ``fileless``: from the event's own records (:func:`~exectrail.enrich.records.record_context`);
* ``exec_id`` (:func:`~exectrail.enrich.identity.exec_id`);
* ``parent`` and ``parent_exec_id``: the latest successful exec of the ppid at or before this event in
  the same stream (:class:`~exectrail.enrich.proctable.ProcessTable`; pid reuse handled by time),
  ``source`` ``trail``; live capture falls back to /proc for the rest (:mod:`exectrail.enrich.live`);
* the names of uid, euid, auid and gid: from the SYSCALL line's ENRICHED part (auditd's lookup when it
  wrote the line) or, live, from the name service;
* the fields live capture reads from /proc afterwards: null here, and from a log their ``*_missing``
  reason is ``not-live``.

It keeps state (the process table), so one builder serves one stream, in the order events complete.
"""

from __future__ import annotations

from typing import Any

from exectrail.assemble.execve import ExecFacts
from exectrail.enrich.identity import exec_id, host_identity
from exectrail.enrich.names import NameService, enriched_names
from exectrail.enrich.proctable import ProcEntry, ProcessTable
from exectrail.enrich.records import record_context
from exectrail.jsonform import details_to_json
from exectrail.model import Record
from exectrail.parse.fields import split_fields
from exectrail.schema import CONTEXT_FIELDS
from exectrail.timefmt import iso, ms_to_time

__all__ = ["FILLS", "NOT_LIVE", "TRAIL", "ContextBuilder", "parent_json"]

#: The context fields this module fills, in the order :meth:`ContextBuilder.__call__` returns them.
FILLS = (
    "script", "fileless", "exec_id", "parent_exec_id", "parent",
    "uid_name", "euid_name", "auid_name", "gid_name", "names_source",
    "cgroup", "systemd_unit", "container_id", "container_runtime", "cgroup_source",
    "exe_hash", "exe_hash_missing", "env", "env_missing",
)  # fmt: skip
if tuple(f.name for f in CONTEXT_FIELDS) != FILLS:  # pragma: no cover - a schema edit without this one
    raise RuntimeError("exectrail.enrich.context and exectrail.schema disagree on the context fields")

NOT_LIVE = "not-live"
TRAIL = "trail"
AUDITD = "auditd"
NSS = "nss"
_NO_NAMES = (None, None, None, None, None)
_MAX_PARENTS = 4096
_MAX_NODES = 256  # hosts in one log given a process table of their own
_NODE_PIDS = 16384  # parents' JSON objects remembered (a shell's children share one)


def path_inodes(records: list[Record]) -> list[tuple[str, int]]:
    """(dev, inode) of each PATH record that names both (``dev=fd:01 inode=1234``)."""
    out = []
    for record in records:
        fields = split_fields(record.body)
        dev, inode = fields.get(b"dev"), fields.get(b"inode")
        if dev is not None and inode is not None and inode.isdigit() and dev.isascii():
            out.append((dev.decode(), int(inode)))
    return out


def parent_json(entry: ProcEntry) -> dict[str, Any]:
    """The ``parent`` object of a child of the exec ``entry`` (from the trail)."""
    return trail_parent_json(entry.exec_id, entry.pid, entry.exe, entry.argv, entry.time_ms)


def trail_parent_json(
    exec_id: str | None, pid: int | None, exe: str | None, argv: tuple[bytes, ...] | None, time_ms: int
) -> dict[str, Any]:
    """The ``parent`` object of a child of the exec with these fields (from the trail)."""
    return details_to_json(
        {
            "exec_id": exec_id,
            "pid": pid,
            "exe": exe,
            "argv": None if argv is None else [a.decode("utf-8", "surrogateescape") for a in argv],
            "time": iso(ms_to_time(time_ms)),
            "source": TRAIL,
        }
    )


class ContextBuilder:
    """The context hook of one stream of exec events (see the module docstring).

    ``host_id`` is the host identity of exec ids for events without ``node=`` (default: this host's,
    :func:`~exectrail.enrich.identity.host_identity`). ``live``: events come from the kernel now, so
    names come from the name service and the /proc fields are left for the live layer to fill."""

    def __init__(
        self,
        host_id: str | None = None,
        *,
        live: bool = False,
        table: ProcessTable | None = None,
        names: NameService | None = None,
    ) -> None:
        self.host_id = host_identity() if host_id is None else host_id
        self.live = live
        self.table = table if table is not None else ProcessTable()
        self._node_tables: dict[str, ProcessTable] = {}  # a log of several hosts: one table each
        self.names = names if names is not None else (NameService() if live else None)
        missing = None if live else NOT_LIVE
        self._unread: tuple[Any, ...] = (None, None, None, None, None, None, missing, None, missing)
        self._parents: dict[str, dict[str, Any]] = {}
        self._paths: dict[str, list[Record]] = {}

    def pop_paths(self, exec_id: str | None) -> list[Record]:
        """Live: the PATH records of the event ``exec_id`` (taken once; :func:`path_inodes` reads
        the dev/inode pairs they name)."""
        return self._paths.pop(exec_id, []) if exec_id is not None else []

    def __call__(self, facts: ExecFacts) -> tuple[Any, ...]:
        # once per exec: the facts unpacked at once (a named tuple's attributes cost a call each)
        time, serial, node, syscall, success, pid, ppid, ids, argv, cwd, paths, records, interpreted = facts
        exe = ids[12]
        script, fileless = record_context(exe, argv, cwd, syscall, success, paths)
        time_ms = int(time.timestamp()) * 1000 + time.microsecond // 1000
        this_id = exec_id(node or self.host_id, time_ms, serial)
        parent = parent_id = None
        table = self.table if node is None else self._table_of(node)
        if ppid is not None and table is not None:
            entry = table.lookup(ppid, time_ms)
            if entry is not None:
                parent_id = entry.exec_id
                parent = self._parents.get(parent_id)
                if parent is None:
                    if len(self._parents) >= _MAX_PARENTS:
                        self._parents.clear()
                    parent = self._parents[parent_id] = parent_json(entry)
        if success and pid is not None and table is not None:
            table.record(ProcEntry(pid, time_ms, this_id, exe, argv))
        names = self._names(ids, interpreted)
        if self.live:
            if len(self._paths) >= _MAX_PARENTS:  # never taken: a caller that does not use them
                self._paths.clear()
            self._paths[this_id] = records
        return (script, fileless, this_id, parent_id, parent, *names, *self._unread)

    def _table_of(self, node: str) -> ProcessTable | None:
        """The process table of host ``node`` (pids are per host); None past :data:`_MAX_NODES` hosts
        in one stream (their events get no parent: none is better than another host's)."""
        table = self._node_tables.get(node)
        if table is None and len(self._node_tables) < _MAX_NODES:
            table = self._node_tables[node] = ProcessTable(max_pids=_NODE_PIDS)
        return table

    def _names(self, ids: tuple[Any, ...], interpreted: bytes | None) -> tuple[str | None, ...]:
        """uid, euid, auid and gid names and where they came from."""
        if interpreted is not None:
            found = enriched_names(interpreted)
            source = AUDITD
        elif self.names is not None:
            service = self.names
            found = (service.user(ids[0]), service.user(ids[1]), service.user(ids[8]), service.group(ids[4]))
            source = NSS
        else:
            return _NO_NAMES
        return (*found, source) if any(name is not None for name in found) else _NO_NAMES
