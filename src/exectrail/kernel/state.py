"""Snapshots of the kernel audit state, and putting it back.

:class:`KernelState` is status plus every rule (raw bytes); :meth:`KernelState.restore` makes the
kernel equal to a snapshot. :class:`KernelGuard` journals the changes made through it and undoes
only those (a field someone else changed since is left alone, and said so);
:func:`guarded_kernel_state` wraps a block with a guard that undoes on exit, on exceptions and on
SIGTERM/SIGHUP (SIGINT arrives as KeyboardInterrupt). Signals are ignored while restoring.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from exectrail.errors import KernelAuditError
from exectrail.kernel.netlink.client import AuditClient, NetlinkAuditError
from exectrail.kernel.netlink.wire import AuditStatus
from exectrail.kernel.procfs import pid_alive, process_name
from exectrail.kernel.rules.procmon import DEFAULT_KEY, coverage
from exectrail.kernel.rules.rule import Rule

#: status fields a snapshot restores (``pid`` is handled apart: only our own registration is undone)
SETTINGS = ("enabled", "failure", "rate_limit", "backlog_limit", "backlog_wait_time")
GUARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM/SIGHUP inside :func:`guarded_kernel_state`."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@dataclass(frozen=True, slots=True)
class KernelState:
    """Audit status and the full rule list (raw ``audit_rule_data``, kernel order)."""

    status: AuditStatus
    rules: tuple[bytes, ...]

    @classmethod
    def capture(cls, client: AuditClient) -> KernelState:
        return cls(client.get_status(), tuple(client.list_rules()))

    def settings(self) -> dict[str, int]:
        """The restorable status fields plus ``pid``."""
        values = {name: int(getattr(self.status, name)) for name in SETTINGS}
        values["pid"] = self.status.pid
        return values

    def differences(self, other: KernelState) -> list[str]:
        """What differs between two snapshots, in words (empty when equal)."""
        out = [
            f"{name}: {old} -> {new}"
            for (name, old), new in zip(self.settings().items(), other.settings().values(), strict=True)
            if old != new
        ]
        if self.rules != other.rules:
            out.append(f"rules: {len(self.rules)} -> {len(other.rules)} (or their order/content)")
        return out

    def restore(self, client: AuditClient) -> list[str]:
        """Make the kernel match this snapshot: rules, settings, and our own daemon registration."""
        done = _restore_rules(client, self.rules)
        now = client.get_status()
        changes = {
            n: int(getattr(self.status, n)) for n in SETTINGS if getattr(now, n) != getattr(self.status, n)
        }
        if changes:
            client.set_status(**changes)
            done.extend(f"{n} {getattr(now, n)} -> {v}" for n, v in changes.items())
        ours_or_dead = now.pid == os.getpid() or not pid_alive(now.pid)
        if now.pid != self.status.pid and self.status.pid == 0 and ours_or_dead:
            client.unregister_daemon()
            done.append(f"audit pid {now.pid} unregistered")
        remaining = self.differences(KernelState.capture(client))
        if remaining:
            raise KernelAuditError("could not restore the audit state: " + "; ".join(remaining))
        return done


def _restore_rules(client: AuditClient, wanted: tuple[bytes, ...]) -> list[str]:
    current = client.list_rules()
    if tuple(current) == wanted:
        return []
    common = 0
    while common < min(len(current), len(wanted)) and current[common] == wanted[common]:
        common += 1
    for blob in current[common:]:
        client.delete_rule(blob)
    for blob in wanted[common:]:
        client.add_rule(blob)
    return [f"rules: deleted {len(current) - common}, re-added {len(wanted) - common}"]


def describe(status: AuditStatus, rules: list[Rule], key: str = DEFAULT_KEY) -> dict[str, Any]:
    """The audit state as plain data (for ``exectrail status``), with ``warnings`` in words."""
    cover = coverage(rules, key)
    alive = pid_alive(status.pid)
    report: dict[str, Any] = {
        "enabled": status.enabled,
        "failure": status.failure,
        "pid": status.pid,
        "pid_name": process_name(status.pid) if alive else None,
        "pid_alive": alive,
        "rate_limit": status.rate_limit,
        "backlog_limit": status.backlog_limit,
        "backlog_wait_time": status.backlog_wait_time,
        "backlog": status.backlog,
        "lost": status.lost,
        "rules": len(rules),
        "procmon": {"key": key, "state": cover.state, "covered": cover.covered, "missing": cover.missing},
    }
    warnings = []
    if status.enabled == 0:
        warnings.append("audit is disabled (enabled=0): the kernel records nothing")
    elif status.enabled == 2:
        warnings.append("audit configuration is immutable (enabled=2) until reboot")
    if status.failure == 2:
        warnings.append("failure mode 2: the kernel panics when audit records are lost")
    if cover.state == "absent":
        warnings.append(f"no procmon rules (key {key}): run 'exectrail rules install'")
    elif cover.state == "partial":
        warnings.append(f"procmon rules incomplete (key {key}), missing: {', '.join(cover.missing)}")
    if status.pid and not alive:
        warnings.append(
            f"audit pid {status.pid} is registered but that process is gone (stale): "
            "'exectrail status --repair' clears it"
        )
    elif not status.pid and status.enabled:
        warnings.append("no audit daemon registered: records go to the kernel log only")
    report["warnings"] = warnings
    return report


@dataclass
class KernelGuard:
    """A snapshot plus a journal of the changes made through this object; :meth:`undo` reverts them."""

    client: AuditClient
    before: KernelState
    added: list[bytes] = field(default_factory=list)
    removed: list[bytes] = field(default_factory=list)
    status_set: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (old, new)
    registered: AuditClient | None = None
    #: called after every journaled change (e.g. to persist the journal for crash recovery)
    on_change: Callable[[KernelGuard], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    @classmethod
    def start(cls, client: AuditClient) -> KernelGuard:
        return cls(client, KernelState.capture(client))

    def add_rule(self, blob: bytes) -> bool:
        self.added.append(blob)  # journal first: a crash right after the change stays repairable
        self._changed()
        added = False
        try:
            added = self.client.add_rule(blob)
        finally:
            if not added:  # already there (not ours to delete later) or refused
                self.added.pop()
                self._changed()
        return added

    def delete_rule(self, blob: bytes) -> bool:
        deleted = self.client.delete_rule(blob)
        if deleted:
            self.removed.append(blob)
            self._changed()
        return deleted

    def set_status(self, **values: int) -> None:
        """Set status fields that differ from the kernel's current values (journaled)."""
        now = self.client.get_status()
        values = {name: value for name, value in values.items() if getattr(now, name) != value}
        if not values:
            return
        journal = dict(self.status_set)
        for name, value in values.items():
            old = self.status_set.get(name, (int(getattr(now, name)), value))[0]
            self.status_set[name] = (old, value)
        self._changed()
        try:
            self.client.set_status(**values)
        except BaseException:
            self.status_set = journal
            self._changed()
            raise

    def register(self, reader: AuditClient) -> None:
        """Register ``reader``'s socket as the audit daemon (journaled)."""
        self.registered = reader
        self._changed()
        try:
            reader.register_daemon()
        except BaseException:
            self.registered = None
            self._changed()
            raise

    def undo(self) -> list[str]:
        """Revert the journaled changes (rules, settings, registration); return what was done."""
        done: list[str] = []
        errors: list[str] = []
        steps: list[Callable[[], list[str]]] = [self.undo_rules, self._undo_settings, self._undo_pid]
        for step in steps:
            try:
                done.extend(step())
            except KernelAuditError as exc:
                errors.append(str(exc))
        if errors:
            raise KernelAuditError("restoring the audit state failed: " + "; ".join(errors))
        return done

    def undo_rules(self) -> list[str]:
        """Delete the rules added through this guard, re-add those it removed."""
        done = []
        gone = sum(not self.client.delete_rule(blob) for blob in reversed(self.added))
        if self.added:
            done.append(f"deleted {len(self.added) - gone} rule(s) we added")
        if gone:
            done.append(f"{gone} rule(s) we added were already gone")
        back = sum(self.client.add_rule(blob) for blob in self.removed)
        if back:
            done.append(f"re-added {back} rule(s) we removed")
        self.added.clear()
        self.removed.clear()
        return done

    def _undo_settings(self) -> list[str]:
        done = []
        now = self.client.get_status()
        revert: dict[str, int] = {}
        for name, (old, new) in self.status_set.items():
            current = int(getattr(now, name))
            if current == new and current != old:
                revert[name] = old
            elif current != new:
                done.append(f"{name} was changed by someone else to {current}: left as is")
        if revert:
            self.client.set_status(**revert)
            done.extend(f"{name} {self.status_set[name][1]} -> {old}" for name, old in revert.items())
        self.status_set.clear()
        return done

    def _undo_pid(self) -> list[str]:
        if self.registered is None:
            return []
        reader, self.registered = self.registered, None
        if self.client.get_status().pid != os.getpid():
            return ["audit pid was no longer ours"]
        # any socket of the registered process may unregister it
        (reader if reader.fileno() >= 0 else self.client).unregister_daemon()
        return ["unregistered as audit daemon"]


@contextmanager
def guarded_kernel_state(client: AuditClient | None = None, *, full: bool = False) -> Iterator[KernelGuard]:
    """Yield a :class:`KernelGuard`; on leaving (normally, by exception or SIGTERM/SIGHUP) undo
    its changes, and with ``full`` also force the kernel back to the snapshot taken on entry."""
    own = client is None
    client = client or AuditClient()
    try:
        guard = KernelGuard.start(client)
        previous = _install_handlers()
        try:
            yield guard
        finally:
            with _signals_ignored():
                try:
                    guard.undo()
                finally:
                    if full:
                        guard.before.restore(client)
            _reinstall(previous)
    finally:
        if own:
            client.close()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _install_handlers() -> dict[signal.Signals, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _raise_terminated) for sig in GUARDED_SIGNALS}


def _reinstall(previous: dict[signal.Signals, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP while the state is being put back (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *GUARDED_SIGNALS)}
    try:
        yield
    finally:
        _reinstall(saved)


__all__ = ["KernelGuard", "KernelState", "NetlinkAuditError", "Terminated", "guarded_kernel_state"]
