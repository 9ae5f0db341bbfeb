"""Audit rules: the model (kernel ``audit_rule_data`` ↔ :class:`Rule`), auditctl text, presets."""

from exectrail.kernel.rules.procmon import ProcmonSpec, procmon_rules
from exectrail.kernel.rules.render import rules_file, to_auditctl
from exectrail.kernel.rules.rule import Rule, RuleField, parse_field

__all__ = ["ProcmonSpec", "Rule", "RuleField", "parse_field", "procmon_rules", "rules_file", "to_auditctl"]
