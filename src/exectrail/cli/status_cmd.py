"""``exectrail status``: the kernel audit state, the procmon rules, an unclean exit of an earlier
``watch``, the forwarding sinks (backlog, last error), and what looks wrong."""

from __future__ import annotations

import json
from typing import Any

import click

from exectrail.capture.journal import repair as journal_repair
from exectrail.capture.journal import unclean_exits
from exectrail.cli.common import echo_err, reports_errors
from exectrail.cli.options import key_option
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.procfs import pid_alive
from exectrail.kernel.rules.rule import decode_rules
from exectrail.kernel.state import describe
from exectrail.output.terminal import terminal_text
from exectrail.sinks import DEFAULT_SPOOL_DIR, read_sink_status

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
    rows += [(f"sink {n + 1}", _sink_text(sink)) for n, sink in enumerate(report["sinks"])]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.extend(f"warning: {w}" for w in report["warnings"])
    return "\n".join(terminal_text(line) for line in lines)


def _sink_text(sink: dict[str, Any]) -> str:
    """``jsonl:///x: running (pid 12), backlog 0, 120 delivered, 0 dropped, last error: …``."""
    state = f"running (pid {sink.get('pid')})" if sink.get("running") else "not running"
    text = (
        f"{sink.get('sink')}: {state}, backlog {sink.get('backlog', 0)} "
        f"({sink.get('spool_events', 0)} in the spool), {sink.get('delivered', 0)} delivered, "
        f"{sink.get('dropped', 0)} dropped"
    )
    if sink.get("last_error"):
        text += f", last error: {sink['last_error']} ({sink.get('last_error_time')})"
    return text


def sink_warnings(sinks: list[dict[str, Any]]) -> list[str]:
    """Sinks with events waiting (a stopped forwarder leaves them for the next run) or dropped."""
    out = []
    for sink in sinks:
        if sink.get("dropped"):
            out.append(f"sink {sink.get('sink')}: {sink['dropped']} events DROPPED (spool full)")
        if sink.get("spool_rejected"):
            out.append(
                f"sink {sink.get('sink')}: {sink['spool_rejected']} spool files rejected (not written by "
                f"exectrail: not forwarded, left in place in {sink.get('spool_path')})"
            )
        if not sink.get("running") and sink.get("backlog"):
            out.append(
                f"sink {sink.get('sink')}: {sink['backlog']} events wait in {sink.get('spool_path')} "
                "(sent by the next run with this --sink)"
            )
        elif sink.get("running") and sink.get("last_error") and sink.get("backlog"):
            out.append(f"sink {sink.get('sink')}: receiver failing: {sink['last_error']}")
    return out


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
@click.option(
    "--spool",
    default=DEFAULT_SPOOL_DIR,
    show_default=True,
    metavar="DIR",
    help="The sinks' spool directory (as given to watch/review/import --spool).",
)
@reports_errors
def status(fmt: str, key: str, repair: bool, spool: str) -> None:
    """Show the kernel audit state: enabled, failure mode, audit daemon, backlog, lost, rules;
    an earlier watch that did not exit cleanly; each sink's backlog and last error."""
    with AuditClient() as client:
        unclean = unclean_exits(client)
        if repair:
            for found in unclean:
                done = "; ".join(journal_repair(client, found.path, found.journal)) or "nothing left"
                echo_err(f"exectrail: repaired after watch pid {found.journal.pid}: {done}")
            unclean = []
            st = client.get_status()
            if st.pid and not pid_alive(st.pid):
                client.unregister_daemon()
                echo_err(f"exectrail: unregistered stale audit pid {st.pid}")
        rules = decode_rules(client.list_rules())
        report = describe(client.get_status(), rules, key)
    report["unclean_exits"] = [found.to_json() for found in unclean]
    report["warnings"] += [f"{found.describe()}: 'exectrail status --repair' undoes it" for found in unclean]
    report["sinks"] = read_sink_status(spool)
    report["warnings"] += sink_warnings(report["sinks"])
    if fmt == "json":
        click.echo(json.dumps(report))
    else:
        click.echo(_table(report))
