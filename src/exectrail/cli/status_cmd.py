"""``exectrail status``: the kernel audit state, the procmon rules, and what looks wrong."""

from __future__ import annotations

import json
from typing import Any

import click

from exectrail.capture.journal import repair as journal_repair
from exectrail.capture.journal import stale_journals
from exectrail.cli.kernel_common import key_option, reports_errors
from exectrail.cli.rules_cmd import current_rules
from exectrail.kernelstate import describe, pid_alive
from exectrail.netlink.client import AuditClient

FAILURE_NAMES = {0: "silent", 1: "printk", 2: "panic"}
ENABLED_NAMES = {0: "disabled", 1: "enabled", 2: "enabled, immutable"}


def _table(report: dict[str, Any]) -> str:
    pid = report["pid"]
    if not pid:
        pid_text = "0 (none)"
    elif report["pid_alive"]:
        pid_text = f"{pid} ({report['pid_name']})"
    else:
        pid_text = f"{pid} (process gone)"
    procmon = report["procmon"]
    procmon_text = f"{procmon['state']} (key {procmon['key']})"
    if procmon["state"] == "partial":
        procmon_text += f", missing {', '.join(procmon['missing'])}"
    rows = [
        ("enabled", f"{report['enabled']} ({ENABLED_NAMES.get(report['enabled'], '?')})"),
        ("failure", f"{report['failure']} ({FAILURE_NAMES.get(report['failure'], '?')})"),
        ("audit pid", pid_text),
        ("rate limit", f"{report['rate_limit']}/s" if report["rate_limit"] else "0 (none)"),
        ("backlog limit", str(report["backlog_limit"])),
        ("backlog wait", f"{report['backlog_wait_time']} jiffies"),
        ("backlog", str(report["backlog"])),
        ("lost", f"{report['lost']} (since boot)"),
        ("rules", str(report["rules"])),
        ("procmon rules", procmon_text),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.extend(f"warning: {w}" for w in report["warnings"])
    return "\n".join(lines)


@click.command("status")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output.",
)
@key_option
@click.option(
    "--repair",
    is_flag=True,
    help="Undo what a killed 'exectrail watch' left behind and unregister a stale audit pid.",
)
@reports_errors
def status(fmt: str, key: str, repair: bool) -> None:
    """Show the kernel audit state: enabled, failure mode, audit daemon, backlog, lost, rules."""
    with AuditClient() as client:
        journals = stale_journals()
        if repair:
            for path, journal in journals:
                done = journal_repair(client, path, journal)
                click.echo(f"exectrail: repaired after watch pid {journal.pid}: {'; '.join(done)}", err=True)
            journals = []
            st = client.get_status()
            if st.pid and not pid_alive(st.pid):
                client.unregister_daemon()
                click.echo(f"exectrail: unregistered stale audit pid {st.pid}", err=True)
        report = describe(client.get_status(), current_rules(client), key)
    report["unclean_exits"] = [
        {
            "pid": j.pid,
            "mode": j.mode,
            "rules": len(j.added_rules),
            "status": j.status_set,
            "summary": j.describe(),
        }
        for _, j in journals
    ]
    report["warnings"] += [f"{j.describe()}: 'exectrail status --repair' undoes it" for _, j in journals]
    if fmt == "json":
        click.echo(json.dumps(report))
    else:
        click.echo(_table(report))


def register(group: click.Group) -> None:
    group.add_command(status)
