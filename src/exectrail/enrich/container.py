"""Where a process runs, from ``/proc/PID/cgroup``: its cgroup, systemd unit and container.

A value read here comes from ``/proc`` after the exec, not from the audit records: it says where the
process that holds the pid *now* runs. Cgroup names are chosen by whoever may create cgroups (a
delegated user, a container), so the text is parsed as hostile: nothing here raises, a line that the
kernel could not have written is skipped, and an id is only taken when it has the exact shape its
runtime writes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

READ_LIMIT = 64 * 1024  # a real file is well under 1 KiB (one line per hierarchy)
PATH_MAX = 4096  # the kernel fails the read (ENAMETOOLONG) rather than print a longer path
DELETED = " (deleted)"  # appended by the kernel to a v2 path whose cgroup was removed

_HEX_ID = re.compile(r"[0-9a-f]{64}")
#: systemd driver scopes (``docker-<id>.scope``...) and the same names without ``.scope`` (CRI-O's and
#: podman's cgroupfs managers). ``crio-conmon-<id>`` and ``libpod-conmon-<id>`` (the monitors, on the
#: host side) do not match: ``conmon-`` is not hex.
_PREFIXED_ID = re.compile(r"(docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?")
_PREFIX_RUNTIME = {"docker": "docker", "cri-containerd": "containerd", "crio": "cri-o", "libpod": "podman"}
#: a Kubernetes pod's cgroupfs directory: ``pod`` and the pod's UID (a UUID, or 32 hex for static pods)
_POD = re.compile(r"pod(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})")
_MACHINE_SCOPE = re.compile(r"machine-(.+)\.scope")
#: machines libvirt registers with systemd-machined: ``qemu-<n>-<name>`` is a VM, ``lxc-<pid>-<name>``
#: a libvirt-lxc container; neither is systemd-nspawn
_LIBVIRT_MACHINE = re.compile(r"(?:qemu|lxc)-[0-9]+-")
_UNIT = re.compile(r".+\.(?:service|scope)")
_UNIT_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_NOT_A_NAME = {"", ".", ".."}


@dataclass(frozen=True, slots=True)
class CgroupInfo:
    """Where a process runs.

    ``cgroup``: the path as the kernel printed it (non-UTF-8 bytes kept by ``surrogateescape``; a
    ``/..`` prefix when the process is outside the reader's cgroup namespace). ``runtime`` is one of
    ``docker``, ``containerd``, ``cri-o``, ``podman``, ``lxc``, ``nspawn``, or None: also when a
    Kubernetes cgroupfs path gives an id but not which runtime wrote it.
    """

    cgroup: str
    systemd_unit: str | None
    container_id: str | None
    runtime: str | None


def _usable_lines(text: bytes) -> list[tuple[int, list[bytes], str]]:
    """``(hierarchy id, controllers, path)`` of each line the kernel could have written
    (``ID:CONTROLLERS:PATH``; the path may itself hold colons, never a NUL or more than PATH_MAX)."""
    lines = []
    for line in text.split(b"\n"):
        fields = line.split(b":", 2)
        if len(fields) != 3 or not fields[0].isdigit() or len(fields[0]) > 10 or b"\0" in line:
            continue
        path = fields[2]
        if not path.startswith(b"/") or len(path) > PATH_MAX:
            continue
        lines.append((int(fields[0]), fields[1].split(b","), path.decode("utf-8", "surrogateescape")))
    return lines


def _chosen_path(lines: list[tuple[int, list[bytes], str]]) -> str:
    """The ``name=systemd`` hierarchy's path (v1 or hybrid), else the v2 ``0::`` line's, else the
    first line's."""
    for _, controllers, path in lines:
        if b"name=systemd" in controllers:
            return path
    for hierarchy, controllers, path in lines:
        if hierarchy == 0 and controllers == [b""]:
            return path
    return lines[0][2]


def _components(path: str) -> list[str]:
    """The names in ``path`` (without the kernel's `` (deleted)`` mark); ``..`` stays, matching nothing."""
    return path.removesuffix(DELETED).split("/")


def systemd_unit(path: str) -> str | None:
    """The innermost ``*.service`` or ``*.scope`` component of ``path``: the unit the process runs in,
    as systemd named it (escapes kept). ``/system.slice/ssh.service`` gives ``ssh.service``, a session
    its ``session-N.scope``, a user service under ``user@UID.service`` that service (not the user
    manager), a container its ``docker-<id>.scope`` (or a unit inside it, when the container runs its
    own systemd), pid 1 ``init.scope``. Slices are not units a process runs in: None when only those
    (or nothing systemd made) are in the path."""
    for part in reversed(_components(path)):
        if _UNIT.fullmatch(part):
            return part
    return None


def _unescape_unit_name(name: str) -> str:
    """Undo systemd's ``\\xNN`` escapes (``-`` is written ``\\x2d`` in a unit name); bytes that are not
    UTF-8 stay as ``surrogateescape`` keeps them."""
    raw = _UNIT_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), name.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def _container_in(parts: list[str]) -> tuple[str, str | None] | None:
    """``(id or name, runtime)`` of the innermost container named in ``parts``, or None."""
    for i in range(len(parts) - 1, -1, -1):
        part = parts[i]
        parent = parts[i - 1] if i else ""
        child = parts[i + 1] if i + 1 < len(parts) else None
        prefixed = _PREFIXED_ID.fullmatch(part)
        if prefixed:  # docker-<id>.scope, cri-containerd-, crio-, libpod-<id>[.scope]
            return prefixed[2], _PREFIX_RUNTIME[prefixed[1]]
        if _HEX_ID.fullmatch(part):
            if parent == "docker":  # docker's cgroupfs driver: /docker/<id>
                return part, "docker"
            if _POD.fullmatch(parent) and any(p.startswith("kubepods") for p in parts[: i - 1]):
                return part, None  # /kubepods/<qos>/pod<uid>/<id>: containerd and dockershim alike
        if parent in ("lxc", "lxc.payload") and part not in _NOT_A_NAME:
            return part, "lxc"  # /lxc/<name> (LXC < 4), /lxc.payload/<name> (LXC 3.x)
        if part.startswith("lxc.payload.") and part[len("lxc.payload.") :] not in _NOT_A_NAME:
            return part[len("lxc.payload.") :], "lxc"  # LXC >= 4 and LXD; lxc.monitor.<name> is not
        machine = _MACHINE_SCOPE.fullmatch(part)
        if machine and child != "supervisor":  # nspawn's own process sits in <scope>/supervisor
            name = _unescape_unit_name(machine[1])
            if (
                name not in _NOT_A_NAME
                and "/" not in name
                and "\0" not in name
                and not _LIBVIRT_MACHINE.match(name)
            ):
                return name, "nspawn"
    return None


def parse_cgroup(text: bytes) -> CgroupInfo | None:
    """What the text of a ``/proc/PID/cgroup`` file says; None when no line is usable.

    ``cgroup`` is the v2 path (the ``0::`` line) on a v2 host, the ``name=systemd`` hierarchy's on a
    v1 or hybrid host, else the first line's. The systemd unit comes from that path
    (:func:`systemd_unit`). The container is looked for in that path first, then in the other lines'
    (a v1 controller may name it when systemd's hierarchy does not), innermost component first, so a
    container nested in another is the inner one. Ids are taken only in full and in the shape their
    runtime writes: 64 lowercase hex for docker (``/docker/<id>``, ``docker-<id>.scope``), containerd
    (``cri-containerd-<id>.scope``, ``/kubepods/<qos>/pod<uid>/<id>``), CRI-O (``crio-<id>.scope``)
    and podman (``libpod-<id>.scope``, ``/libpod_parent/libpod-<id>``); a name for LXC (``/lxc/<name>``,
    ``/lxc.payload.<name>``) and systemd-nspawn (``machine-<name>.scope``, unescaped). Monitors are not
    the container: ``crio-conmon-``, ``libpod-conmon-``, ``lxc.monitor.``, nspawn's ``supervisor``.
    """
    lines = _usable_lines(text)
    if not lines:
        return None
    chosen = _chosen_path(lines)
    found = None
    for path in [chosen, *(path for _, _, path in lines if path != chosen)]:
        found = _container_in(_components(path))
        if found:
            break
    container_id, runtime = found if found else (None, None)
    return CgroupInfo(chosen, systemd_unit(chosen), container_id, runtime)


def read_cgroup(pid: int, proc: str = "/proc", limit: int = READ_LIMIT) -> CgroupInfo | None:
    """:func:`parse_cgroup` of ``PROC/PID/cgroup``, read up to ``limit`` bytes (a line cut by the cap
    is dropped); None when the process is gone, unreadable or the file names no cgroup. The pid is
    whatever process holds it at the time of reading."""
    if pid <= 0:
        return None
    try:
        fd = os.open(f"{proc}/{pid}/cgroup", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:  # ESRCH: the process exited between open and read
        return None
    finally:
        os.close(fd)
    text = b"".join(chunks)
    if size >= limit:
        text = text[: text.rfind(b"\n") + 1]
    return parse_cgroup(text)
