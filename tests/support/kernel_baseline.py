"""The state every kernel test starts from: no audit rules, whatever the machine had.

A machine may well carry audit rules of its own: the classic ``-k procmon`` recipe, or the rules a
killed run left behind (a SIGKILL cannot be undone). Tests that install, list or delete rules
would then meet "Rule exists" or a rule they did not expect. Each kernel harness snapshots the
state first, then calls :func:`clear_rules`; its restore at the end re-adds what was found, so the
machine's own rules are back after every test, in their order.
"""

from __future__ import annotations

from exectrail.kernel.netlink.client import AuditClient


def clear_rules(client: AuditClient) -> int:
    """Delete every audit rule (the caller holds the kernel lock and a snapshot); how many."""
    rules = client.list_rules()
    for blob in rules:
        client.delete_rule(blob)
    return len(rules)
