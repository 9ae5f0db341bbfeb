"""Reference facts of the Elastic Common Schema and of auditbeat's auditd fields, for the fields
exectrail's ECS output uses.

ECS: the field reference of ECS 8.11, https://www.elastic.co/guide/en/ecs/8.11/ecs-field-reference.html
(``ecs_flat.yml`` of the elastic/ecs release v8.11.0), checked against the flat field list that the
npm package ``@elastic/ecs`` publishes (8.11.5: ECS 8.11.0; 9.4.0: every field below has the same
type). ``array`` is ECS's ``normalize: [array]``.

auditbeat: its auditd module's fields, https://www.elastic.co/guide/en/beats/auditbeat/current/exported-fields-auditd.html
(``user.auid`` is an alias of ``user.audit.id``, ``user.suid`` of ``user.saved.id``, ``user.fsuid`` of
``user.filesystem.id``, ``user.sgid``/``user.fsgid`` of ``user.saved.group.id``/``user.filesystem.group.id``,
and the ``name_map`` ones of the matching ``.name``), and its sample execve event
(auditbeat/module/auditd/_meta/execve.json in elastic/beats) for the layout of ``auditd.*``.
"""

from __future__ import annotations

ECS_VERSION = "8.11.0"

#: field -> (ECS type, is an array)
ECS_FIELDS: dict[str, tuple[str, bool]] = {
    "@timestamp": ("date", False),
    "container.id": ("keyword", False),
    "container.runtime": ("keyword", False),
    "ecs.version": ("keyword", False),
    "event.action": ("keyword", False),
    "event.category": ("keyword", True),
    "event.dataset": ("keyword", False),
    "event.id": ("keyword", False),
    "event.kind": ("keyword", False),
    "event.module": ("keyword", False),
    "event.outcome": ("keyword", False),
    "event.sequence": ("long", False),
    "event.severity": ("long", False),
    "event.type": ("keyword", True),
    "file.name": ("keyword", False),
    "file.path": ("keyword", False),
    "host.id": ("keyword", False),
    "host.name": ("keyword", False),
    "host.os.type": ("keyword", False),
    "message": ("match_only_text", False),
    "process.args": ("keyword", True),
    "process.args_count": ("long", False),
    "process.command_line": ("wildcard", False),
    "process.entity_id": ("keyword", False),
    "process.env_vars": ("keyword", True),
    "process.executable": ("keyword", False),
    "process.hash.sha256": ("keyword", False),
    "process.name": ("keyword", False),
    "process.parent.args": ("keyword", True),
    "process.parent.args_count": ("long", False),
    "process.parent.command_line": ("wildcard", False),
    "process.parent.entity_id": ("keyword", False),
    "process.parent.executable": ("keyword", False),
    "process.parent.name": ("keyword", False),
    "process.parent.pid": ("long", False),
    "process.parent.start": ("date", False),
    "process.pid": ("long", False),
    "process.real_group.id": ("keyword", False),
    "process.real_group.name": ("keyword", False),
    "process.real_user.id": ("keyword", False),
    "process.real_user.name": ("keyword", False),
    "process.saved_group.id": ("keyword", False),
    "process.saved_user.id": ("keyword", False),
    "process.title": ("keyword", False),
    "process.user.id": ("keyword", False),
    "process.user.name": ("keyword", False),
    "process.working_directory": ("keyword", False),
    "rule.description": ("keyword", False),
    "rule.name": ("keyword", False),
    "rule.ruleset": ("keyword", False),
    "tags": ("keyword", True),
    "user.effective.group.id": ("keyword", False),
    "user.effective.id": ("keyword", False),
    "user.effective.name": ("keyword", False),
    "user.group.id": ("keyword", False),
    "user.group.name": ("keyword", False),
    "user.id": ("keyword", False),
    "user.name": ("keyword", False),
}

#: Allowed values (ECS "allowed_values") of the categorization fields.
EVENT_KIND = {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}
EVENT_OUTCOME = {"failure", "success", "unknown"}
#: event.category -> its expected event.type values (those used here).
EXPECTED_TYPES = {
    "process": {"access", "change", "end", "info", "start"},
    "intrusion_detection": {"allowed", "denied", "info"},
}

#: auditbeat's own fields (not ECS) -> type; all keyword but the sequence.
AUDITBEAT_FIELDS: dict[str, tuple[str, bool]] = {
    "user.audit.id": ("keyword", False),
    "user.audit.name": ("keyword", False),
    "user.saved.id": ("keyword", False),
    "user.saved.group.id": ("keyword", False),
    "user.filesystem.id": ("keyword", False),
    "user.filesystem.group.id": ("keyword", False),
    "auditd.sequence": ("long", False),
    "auditd.session": ("keyword", False),
    "auditd.result": ("keyword", False),
    "auditd.data.syscall": ("keyword", False),
    "auditd.data.arch": ("keyword", False),
    "auditd.data.exit": ("keyword", False),
    "auditd.data.tty": ("keyword", False),
    "auditd.data.argc": ("keyword", False),
}
#: auditd.result as auditbeat writes it.
AUDITD_RESULT = {"success", "fail"}
