"""``exectrail rules install|show|remove|snippet``: the procmon rules, straight over netlink."""

from __future__ import annotations

import click

from exectrail.cli.common import echo_lines, reports_errors
from exectrail.cli.options import build_spec, key_option, spec_options
from exectrail.errors import KernelAuditError
from exectrail.kernel.netlink.client import AuditClient
from exectrail.kernel.rules.procmon import Plan, plan_install, plan_remove, procmon_rules
from exectrail.kernel.rules.render import rules_file, rules_listing
from exectrail.kernel.rules.rule import decode_rules

SNIPPET_PATH = "/etc/audit/rules.d/10-procmon.rules"


def refuse_immutable(client: AuditClient) -> None:
    if client.get_status().enabled == 2:
        raise KernelAuditError(
            "the audit configuration is immutable (enabled=2): rules cannot change until reboot"
        )


def apply_plan(client: AuditClient, plan: Plan) -> tuple[int, int]:
    """Delete then add; return (deleted, added) counts as the kernel confirmed them."""
    deleted = sum(client.delete_rule(rule.to_bytes()) for rule in plan.delete)
    added = sum(client.add_rule(rule.to_bytes()) for rule in plan.add)
    return deleted, added


@click.group("rules")
def rules_group() -> None:
    """Install, list and remove the procmon exec rules (no auditctl needed)."""


@rules_group.command("install")
@spec_options()
@reports_errors
def install(key: str, no_execveat: bool, fields: tuple[str, ...], exclude_exes: tuple[str, ...]) -> None:
    """Load the procmon rules into the kernel; running it twice changes nothing."""
    desired = procmon_rules(build_spec(key, no_execveat, fields, exclude_exes))
    with AuditClient() as client:
        refuse_immutable(client)
        plan = plan_install(decode_rules(client.list_rules()), desired, key)
        if plan.empty:
            click.echo(f"procmon rules (key {key}) already installed: nothing to do")
            return
        deleted, added = apply_plan(client, plan)
    what = f"replaced {deleted} rule(s) with {added}" if deleted else f"installed {added} rule(s)"
    click.echo(f"{what} (key {key})")


@rules_group.command("show")
@click.option("--key", "key", default=None, help="Only rules carrying this key.")
@reports_errors
def show(key: str | None) -> None:
    """List the kernel's rules (all of them, not only ours) in auditctl -l syntax."""
    with AuditClient() as client:
        rules = decode_rules(client.list_rules())
    if key is not None:
        rules = [r for r in rules if key in r.keys]
    echo_lines(rules_listing(rules))


@rules_group.command("remove")
@key_option
@reports_errors
def remove(key: str) -> None:
    """Delete the procmon rules of KEY (exec rules carrying that key), and nothing else."""
    with AuditClient() as client:
        refuse_immutable(client)
        deleted, _ = apply_plan(client, plan_remove(decode_rules(client.list_rules()), key))
    if deleted:
        click.echo(f"removed {deleted} rule(s) (key {key})")
    else:
        click.echo(f"no procmon rules with key {key} installed: nothing to do")


@rules_group.command("snippet")
@spec_options()
@reports_errors
def snippet(key: str, no_execveat: bool, fields: tuple[str, ...], exclude_exes: tuple[str, ...]) -> None:
    """Print the rules as a rules.d file (for auditctl -R or augenrules)."""
    rules = procmon_rules(build_spec(key, no_execveat, fields, exclude_exes))
    header = [
        f"{SNIPPET_PATH}: exectrail procmon rules (key {key})",
        "every execve/execveat, 64-bit and 32-bit; load with: auditctl -R FILE, or augenrules --load",
        "exectrail watch raises the backlog itself; for auditd consider -b 8192 in 01-initialize.rules",
    ]
    echo_lines(rules_file(rules, header).removesuffix("\n"))
