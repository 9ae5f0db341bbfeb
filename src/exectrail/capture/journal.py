"""Crash recovery for ``watch``: a journal of its kernel changes, kept on disk while it runs.

Each running watch writes ``$EXECTRAIL_STATE_DIR/watch.PID.json`` (default ``/run/exectrail``)
after every change it makes (rules added, status fields set, daemon registration) and removes it
on a clean exit. A journal whose process is gone therefore marks an unclean exit (SIGKILL, OOM,
power): the next ``watch`` or ``exectrail status --repair`` undoes what it left behind, where the
kernel still shows our values.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from exectrail.kernelstate import KernelGuard, KernelState, pid_alive
from exectrail.netlink.client import AuditClient


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
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
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
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(journal.to_json()))
        os.replace(tmp, self.path)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _is_watch_process(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    try:
        return b"exectrail" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stale_journals() -> list[tuple[Path, Journal]]:
    """Journals left by watch processes that are gone (unreadable files count as stale too)."""
    out = []
    for path in sorted(state_dir().glob("watch.*.json")):
        try:
            journal = Journal.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue
        if journal.pid != os.getpid() and not _is_watch_process(journal.pid):
            out.append((path, journal))
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
