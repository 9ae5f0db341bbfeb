"""Crash recovery for ``watch``: a journal of its kernel changes, kept on disk while it runs.

Each running watch writes ``$EXECTRAIL_STATE_DIR/watch.PID.json`` (default ``/run/exectrail``, a
directory of mode 0700 checked like every file exectrail writes: see :mod:`exectrail.safefs`)
when it starts and after every change it makes (rules added, status fields set, daemon
registration), touches it every few seconds while it runs (its mtime is the last sign of life), and
removes it on a clean exit: the file's absence is the clean-stop mark. A journal whose process is
gone therefore marks an unclean exit (SIGKILL, OOM, crash; ``/run`` is emptied by a reboot):
:func:`unclean_exits` says what it left in the kernel, and the next ``watch`` or ``exectrail status
--repair`` undoes it, where the kernel still shows our values.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from exectrail import safefs
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.procfs import pid_alive, read_cmdline
from exectrail.kernel.rules.rule import decode_rules
from exectrail.kernel.state import KernelGuard, KernelState
from exectrail.timefmt import local_text


def state_dir() -> Path:
    return Path(os.environ.get("EXECTRAIL_STATE_DIR", "/run/exectrail"))


@dataclass(frozen=True)
class Journal:
    """What one watch process changed in the kernel."""

    pid: int
    mode: str
    started: float
    added_rules: tuple[bytes, ...]
    status_set: dict[str, tuple[int, int]]
    registered: bool

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "mode": self.mode,
            "started": self.started,
            "added_rules": [blob.hex() for blob in self.added_rules],
            "status_set": {k: list(v) for k, v in self.status_set.items()},
            "registered": self.registered,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Journal:
        rules = data.get("added_rules", [])
        status = data.get("status_set", {})
        return cls(
            pid=int(str(data["pid"])),
            mode=str(data.get("mode", "")),
            started=float(str(data.get("started", 0))),
            added_rules=tuple(bytes.fromhex(str(h)) for h in (rules if isinstance(rules, list) else [])),
            status_set={
                str(k): (int(v[0]), int(v[1]))
                for k, v in (status if isinstance(status, dict) else {}).items()
            },
            registered=bool(data.get("registered", False)),
        )

    def describe(self) -> str:
        parts = [f"{len(self.added_rules)} rule(s)"] if self.added_rules else []
        parts += [f"{name}={new} (was {old})" for name, (old, new) in self.status_set.items()]
        if self.registered:
            parts.append("audit daemon registration")
        when = local_text(self.started)
        left = ", ".join(parts) or "nothing"
        return (
            f"exectrail watch pid {self.pid} ({self.mode}, started {when}) did not exit cleanly; left: {left}"
        )


class JournalFile:
    """The journal of this process: :meth:`write` on every guard change, :meth:`close` on a clean exit."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.started = time.time()
        self.path = state_dir() / f"watch.{os.getpid()}.json"

    def write(self, guard: KernelGuard) -> None:
        journal = Journal(
            os.getpid(),
            self.mode,
            self.started,
            tuple(guard.added),
            dict(guard.status_set),
            guard.registered is not None,
        )
        directory = safefs.secure_dir(self.path.parent)  # 0700, owned by us, or refused
        safefs.write_replace(directory, self.path.name, json.dumps(journal.to_json()).encode())

    def touch(self) -> None:
        """A sign of life: the file's mtime tells a later run until when this watch was capturing."""
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _is_watch_process(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    args = read_cmdline(pid)
    return args is not None and b"exectrail" in args


def stale_journals() -> list[tuple[Path, Journal]]:
    """Journals left by watch processes that are gone (unreadable files count as stale too)."""
    out: list[tuple[Path, Journal]] = []
    try:  # a repair acts on what the journals say: only trust a directory nobody else can write
        directory = safefs.secure_dir(state_dir(), create=False)
    except FileNotFoundError:
        return out
    for path in sorted(directory.glob("watch.*.json")):
        try:
            with safefs.open_dir(directory) as dir_fd:
                fd = safefs.open_in(dir_fd, path, path.name, os.O_RDONLY)
            with os.fdopen(fd, "rb") as fh:
                journal = Journal.from_json(json.loads(fh.read()))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue
        if journal.pid != os.getpid() and not _is_watch_process(journal.pid):
            out.append((path, journal))
    return out


@dataclass(frozen=True)
class UncleanExit:
    """A stale journal, when its watch was last alive, and what of it the kernel still shows."""

    path: Path
    journal: Journal
    last_alive: float  # the journal's mtime (epoch seconds)
    left: tuple[str, ...]  # what is still in effect, in words

    def describe(self) -> str:
        when = local_text(self.last_alive)
        left = (
            "; still in the kernel: " + ", ".join(self.left) if self.left else "; nothing left in the kernel"
        )
        return f"{self.journal.describe()}; last alive {when}{left}"

    def to_json(self) -> dict[str, object]:
        j = self.journal
        return {
            "pid": j.pid,
            "mode": j.mode,
            "started": j.started,
            "last_alive": self.last_alive,
            "rules": len(j.added_rules),
            "status": {name: list(values) for name, values in j.status_set.items()},
            "registered": j.registered,
            "left": list(self.left),
            "summary": self.describe(),
        }


def still_in_effect(client: AuditClient, journal: Journal) -> tuple[str, ...]:
    """What the journal's watch changed that the kernel still shows (leftover rules, settings, pid)."""
    status = client.get_status()
    loaded = decode_rules(client.list_rules())
    out = []
    rules = sum(rule in loaded for rule in decode_rules(journal.added_rules))
    if rules:
        out.append(f"{rules} rule(s) it added")
    for name, (old, new) in journal.status_set.items():
        if int(getattr(status, name)) == new != old:
            out.append(f"{name}={new} (was {old})")
    if journal.registered and status.pid == journal.pid:
        out.append(f"audit pid {journal.pid} (process gone)")
    return tuple(out)


def unclean_exits(client: AuditClient | None) -> list[UncleanExit]:
    """Every stale journal with its last sign of life and (given a client) what is still in effect."""
    out = []
    for path, journal in stale_journals():
        try:
            alive = path.stat().st_mtime
        except OSError:
            alive = journal.started
        left = still_in_effect(client, journal) if client is not None else ()
        out.append(UncleanExit(path, journal, alive, left))
    return out


def repair(client: AuditClient, path: Path, journal: Journal) -> list[str]:
    """Undo what a dead watch left (only where the kernel still shows its values); drop its file."""
    guard = KernelGuard(
        client,
        KernelState.capture(client),
        added=list(journal.added_rules),
        status_set=dict(journal.status_set),
    )
    done = guard.undo()
    if journal.registered and client.get_status().pid == journal.pid:
        client.unregister_daemon()  # the kernel drops a dead daemon's registration on this request
        done.append(f"unregistered stale audit pid {journal.pid}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return done
