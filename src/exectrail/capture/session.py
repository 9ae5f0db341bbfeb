"""Setting up a live capture per mode, watching the kernel while it runs, and undoing it all.

``daemon``: register as the audit daemon, raise the backlog, install the procmon rules if absent,
enable audit; ``multicast``: join the read-only log group beside a running auditd (rules if
absent); ``plugin``: read auditd's plugin stream on stdin and touch nothing; ``auto``: multicast
when a live audit daemon is registered, daemon otherwise. Every kernel change goes through a
:class:`~exectrail.kernelstate.KernelGuard` whose journal is kept on disk
(:mod:`exectrail.capture.journal`) and undone on exit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exectrail.capture.journal import JournalFile, repair, stale_journals
from exectrail.capture.sources import LiveSource, NetlinkSource, PluginSource
from exectrail.errors import KernelAuditError, UsageError
from exectrail.kernelstate import KernelGuard, pid_alive, process_name
from exectrail.model import CERTAIN, Alarm, Diagnostics
from exectrail.netlink.client import DEFAULT_RCVBUF, AuditClient
from exectrail.rules.model import Rule
from exectrail.rules.procmon import ProcmonSpec, coverage, plan_install, procmon_rules

MODES = ("auto", "daemon", "multicast", "plugin")
DEFAULT_BACKLOG = 8192


@dataclass
class Monitor:
    """Polls the audit status: the ``lost`` counter, and the audit daemon in multicast mode."""

    client: AuditClient | None
    mode: str
    alarm: Callable[[Alarm], None]
    interval: float = 1.0
    lost_start: int = 0
    lost_current: int = 0
    lost: int = 0
    daemon_pid: int = 0
    daemon_gone: bool = False
    _next: float = 0.0

    def start(self) -> None:
        if self.client is None:
            return
        status = self.client.get_status()
        self.lost_start = self.lost_current = status.lost
        if self.mode == "multicast":
            self.daemon_pid = status.pid

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.client is None or (now < self._next and not force):
            return
        self._next = now + self.interval
        status = self.client.get_status()
        if status.lost > self.lost_current:
            new = status.lost - self.lost_current
            self.lost_current = status.lost
            self.lost = self.lost_current - self.lost_start
            self._alarm(
                "events-lost",
                f"{new} events lost by the kernel (total {self.lost} since start)",
                lost=new,
                lost_total=self.lost,
            )
        watching = self.mode == "multicast" and not self.daemon_gone and self.daemon_pid
        if watching and (status.pid != self.daemon_pid or not pid_alive(self.daemon_pid)):
            self.daemon_gone = True
            now_text = f"now pid {status.pid}" if status.pid and pid_alive(status.pid) else "none registered"
            self._alarm(
                "collector-stopped",
                f"the audit daemon (pid {self.daemon_pid}) stopped ({now_text}): it no longer records; "
                "exectrail keeps receiving the multicast copy",
                pid=self.daemon_pid,
                now_pid=status.pid,
            )

    def _alarm(self, kind: str, summary: str, **details: object) -> None:
        self.alarm(Alarm(kind, datetime.now(UTC), summary, CERTAIN, details=dict(details)))


@dataclass
class Capture:
    """A running capture: where records come from, who watches the kernel, what to undo."""

    mode: str
    source: LiveSource
    monitor: Monitor
    guard: KernelGuard | None = None
    notes: list[str] = field(default_factory=list)  # what was set up / repaired / restored

    def stop_rules(self) -> None:
        """First step of a clean stop: delete the rules we added (then drain, then :meth:`undo`)."""
        if self.guard is not None:
            self.notes.extend(self.guard.undo_rules())


def choose_mode(requested: str, client: AuditClient) -> str:
    """``auto`` → multicast beside a live audit daemon, daemon otherwise."""
    if requested != "auto":
        return requested
    pid = client.get_status().pid
    return "multicast" if pid and pid_alive(pid) else "daemon"


def _install_rules(guard: KernelGuard, spec: ProcmonSpec) -> str:
    current = [Rule.from_bytes(blob) for blob in guard.client.list_rules()]
    if coverage(current, spec.key).state == "complete":
        return f"procmon rules (key {spec.key}) already present"
    plan = plan_install(current, procmon_rules(spec), spec.key)
    for rule in plan.delete:
        guard.delete_rule(rule.to_bytes())
    added = sum(guard.add_rule(rule.to_bytes()) for rule in plan.add)
    return f"installed {added} procmon rule(s) (key {spec.key}) until exit"


def _repair_stale(client: AuditClient, notes: list[str], notify: Callable[[str, str], None]) -> None:
    for path, journal in stale_journals():
        notify("unclean-exit", journal.describe() + ": repairing")
        notes.extend(repair(client, path, journal))
    status = client.get_status()
    if status.pid and not pid_alive(status.pid):
        notify("stale-pid", f"audit pid {status.pid} is registered but that process is gone: taking over")


@contextmanager
def live_capture(
    requested: str,
    spec: ProcmonSpec,
    diagnostics: Diagnostics,
    *,
    notify: Callable[[str, str], None],
    alarm: Callable[[Alarm], None],
    backlog: int | None = None,
    install_rules: bool = True,
) -> Iterator[Capture]:
    """Set up the capture for ``requested`` mode, yield it, and put the kernel back afterwards."""
    if requested not in MODES:
        raise UsageError(f"unknown mode {requested!r} (one of {', '.join(MODES)})")
    with ExitStack() as stack:
        if requested == "plugin":
            yield _plugin_capture(stack, diagnostics, alarm)
            return
        control = stack.enter_context(AuditClient())
        status = control.get_status()
        if status.enabled == 2:
            raise KernelAuditError("the audit configuration is immutable (enabled=2): watch cannot set it up")
        notes: list[str] = []
        _repair_stale(control, notes, notify)
        mode = choose_mode(requested, control)
        reader = stack.enter_context(AuditClient(rcvbuf=DEFAULT_RCVBUF))
        journal = JournalFile(mode)
        guard = KernelGuard.start(control)
        guard.on_change = journal.write
        try:
            _set_up(mode, guard, reader, spec, notes, backlog, install_rules)
            monitor = Monitor(control, mode, alarm)
            monitor.start()
            if mode == "multicast" and monitor.daemon_pid:
                notes.append(
                    f"beside audit daemon pid {monitor.daemon_pid} ({process_name(monitor.daemon_pid)})"
                )
            capture = Capture(mode, NetlinkSource(reader, diagnostics, notify), monitor, guard, notes)
            try:
                yield capture
            finally:
                capture.source.close()
        finally:
            notes.extend(guard.undo())
            journal.close()


def _set_up(
    mode: str,
    guard: KernelGuard,
    reader: AuditClient,
    spec: ProcmonSpec,
    notes: list[str],
    backlog: int | None,
    install_rules: bool,
) -> None:
    status = guard.client.get_status()
    if mode == "daemon":
        guard.register(reader)
        wanted = backlog if backlog is not None else DEFAULT_BACKLOG
        if wanted > status.backlog_limit:
            guard.set_status(backlog_limit=wanted)
    else:
        reader.join_multicast()
        if backlog is not None and backlog > status.backlog_limit:
            guard.set_status(backlog_limit=backlog)
        if status.enabled == 0:
            notes.append(
                "audit is disabled (enabled=0) and the audit daemon owns it: nothing will be recorded"
            )
    if install_rules:
        notes.append(_install_rules(guard, spec))
    if mode == "daemon" and status.enabled == 0:
        guard.set_status(enabled=1)


def _plugin_capture(stack: ExitStack, diagnostics: Diagnostics, alarm: Callable[[Alarm], None]) -> Capture:
    client: AuditClient | None = None
    try:
        client = stack.enter_context(AuditClient())
        client.get_status()
    except KernelAuditError:
        client = None  # reading the status needs privileges; the stream itself does not
    monitor = Monitor(client, "plugin", alarm)
    monitor.start()
    return Capture("plugin", PluginSource(sys.stdin.buffer, diagnostics), monitor)
