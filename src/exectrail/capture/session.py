"""Setting up a live capture per mode, watching the kernel while it runs, and undoing it all.

``daemon``: register as the audit daemon, raise the backlog, install the procmon rules if absent,
enable audit; ``multicast``: join the read-only log group beside a running auditd (rules if
absent); ``plugin``: read auditd's plugin stream on stdin and touch nothing; ``auto``: multicast
when a live audit daemon is registered, daemon otherwise. Every kernel change goes through a
:class:`~exectrail.kernel.state.KernelGuard` whose journal is kept on disk
(:mod:`exectrail.capture.journal`) and undone on exit. What an earlier watch left behind when it
was killed is reported as an alarm and undone first; a :class:`~exectrail.capture.monitor.KernelMonitor`
watches the kernel while the capture runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exectrail.capture.journal import JournalFile, UncleanExit, repair, unclean_exits
from exectrail.capture.monitor import KernelMonitor
from exectrail.capture.sources import LiveSource, NetlinkSource, PluginSource
from exectrail.errors import KernelAuditError, UsageError
from exectrail.interference import kinds
from exectrail.kernel.netlink.client import DEFAULT_RCVBUF, AuditClient
from exectrail.kernel.procfs import pid_alive, process_name
from exectrail.kernel.rules.procmon import ProcmonSpec, coverage, plan_install, procmon_rules
from exectrail.kernel.rules.rule import decode_rules
from exectrail.kernel.state import KernelGuard
from exectrail.model import CERTAIN, Alarm, Diagnostics
from exectrail.timefmt import format_duration

MODES = ("auto", "daemon", "multicast", "plugin")
DEFAULT_BACKLOG = 8192


@dataclass
class Capture:
    """A running capture: where records come from, who watches the kernel, what to undo."""

    mode: str
    source: LiveSource
    monitor: KernelMonitor
    guard: KernelGuard | None = None
    notes: list[str] = field(default_factory=list)  # what was set up / repaired / restored

    def stop_rules(self) -> None:
        """First step of a clean stop: delete the rules we added (then drain, then undo the rest)."""
        self.monitor.stopping(len(self.guard.added) if self.guard is not None else 0)
        if self.guard is not None:
            self.notes.extend(self.guard.undo_rules())


def choose_mode(requested: str, client: AuditClient) -> str:
    """``auto`` → multicast beside a live audit daemon, daemon otherwise."""
    if requested != "auto":
        return requested
    pid = client.get_status().pid
    return "multicast" if pid and pid_alive(pid) else "daemon"


def _install_rules(guard: KernelGuard, spec: ProcmonSpec) -> str:
    current = decode_rules(guard.client.list_rules())
    if coverage(current, spec.key).state == "complete":
        return f"procmon rules (key {spec.key}) already present"
    plan = plan_install(current, procmon_rules(spec), spec.key)
    for rule in plan.delete:
        guard.delete_rule(rule.to_bytes())
    added = sum(guard.add_rule(rule.to_bytes()) for rule in plan.add)
    return f"installed {added} procmon rule(s) (key {spec.key}) until exit"


def unclean_exit_alarm(unclean: UncleanExit, repaired: list[str]) -> Alarm:
    """The alarm for a watch that died without cleaning up: a blind spot from its last sign of life."""
    journal = unclean.journal
    since = datetime.fromtimestamp(unclean.last_alive, UTC)
    blind_ms = max(0, int((datetime.now(UTC) - since).total_seconds() * 1000))
    summary = (
        f"exectrail watch pid {journal.pid} ({journal.mode} mode) did not exit cleanly (killed or "
        f"crashed): nothing was captured from its last sign of life until now ({format_duration(blind_ms)})"
    )
    if repaired:
        summary += "; undone what it left: " + ", ".join(repaired)
    details: dict[str, object] = {
        "pid": journal.pid,
        "mode": journal.mode,
        "started": datetime.fromtimestamp(journal.started, UTC).isoformat(),
        "left": list(unclean.left),
        "repaired": repaired,
        "blind_ms": blind_ms,
    }
    return Alarm(kinds.COLLECTOR_KILLED, since, summary, CERTAIN, None, details, (unclean.describe(),))


def _repair_stale(
    client: AuditClient, notes: list[str], notify: Callable[[str, str], None], alarm: Callable[[Alarm], None]
) -> None:
    for unclean in unclean_exits(client):
        done = repair(client, unclean.path, unclean.journal)
        notes.extend(done)
        alarm(unclean_exit_alarm(unclean, done))
    status = client.get_status()
    if status.pid and not pid_alive(status.pid):
        alarm(
            Alarm(
                kinds.COLLECTOR_KILLED,
                datetime.now(UTC),
                f"the registered audit daemon (pid {status.pid}) is gone without unregistering: "
                "it was killed or crashed, and nothing was recorded since",
                CERTAIN,
                details={"pid": status.pid},
                evidence=(f"status: pid={status.pid} (no such process) enabled={status.enabled}",),
            )
        )
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
    repair_rules: bool = False,
) -> Iterator[Capture]:
    """Set up the capture for ``requested`` mode, yield it, and put the kernel back afterwards.

    ``repair_rules`` (``watch --repair``): reinstall the procmon rules and re-enable audit whenever
    someone removes them while the capture runs.
    """
    if requested not in MODES:
        raise UsageError(f"unknown mode {requested!r} (one of {', '.join(MODES)})")
    with ExitStack() as stack:
        if requested == "plugin":
            yield _plugin_capture(stack, diagnostics, alarm, notify, spec.key)
            return
        control = stack.enter_context(AuditClient())
        status = control.get_status()
        if status.enabled == 2:
            raise KernelAuditError("the audit configuration is immutable (enabled=2): watch cannot set it up")
        notes: list[str] = []
        _repair_stale(control, notes, notify, alarm)
        mode = choose_mode(requested, control)
        reader = stack.enter_context(AuditClient(rcvbuf=DEFAULT_RCVBUF))
        journal = JournalFile(mode)
        guard = KernelGuard.start(control)
        guard.on_change = journal.write
        try:
            journal.write(guard)  # from now on a kill of this process leaves a stale journal
            _set_up(mode, guard, reader, spec, notes, backlog, install_rules)
            monitor = KernelMonitor(
                control,
                mode,
                alarm,
                key=spec.key,
                notify=notify,
                guard=guard,
                spec=spec,
                repair=repair_rules,
                alive=journal.touch,
            )
            monitor.start()
            daemon_pid = control.get_status().pid
            if mode == "multicast" and daemon_pid:
                notes.append(f"beside audit daemon pid {daemon_pid} ({process_name(daemon_pid)})")
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


def _plugin_capture(
    stack: ExitStack,
    diagnostics: Diagnostics,
    alarm: Callable[[Alarm], None],
    notify: Callable[[str, str], None],
    key: str,
) -> Capture:
    client: AuditClient | None = None
    try:
        client = stack.enter_context(AuditClient())
        client.get_status()
    except KernelAuditError:
        client = None  # reading the status needs privileges; the stream itself does not
    monitor = KernelMonitor(client, "plugin", alarm, key=key, notify=notify)
    monitor.start()
    # a reader of its own on a copy of stdin, left to the reading thread (not closed under it): that
    # thread, blocked in a read, must not hold sys.stdin's lock, or the interpreter aborts at exit
    # ("could not acquire lock for <stdin>", status 134) when auditd stops the plugin with SIGTERM
    stream = open(os.dup(sys.stdin.fileno()), "rb")  # noqa: SIM115
    return Capture("plugin", PluginSource(stream, diagnostics), monitor)
