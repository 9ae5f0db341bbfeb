"""The alarm kinds exectrail reports, with one line each on what they mean.

Kind names are stable (they appear in JSONL, CSV, the store and every sink). ``certain`` means the
trail proves the interference or the cut; ``suspicious`` means it points to one but has an innocent
reading too (the summary says which).
"""

from __future__ import annotations

# configuration changes (CONFIG_CHANGE records, or live status readings)
AUDIT_DISABLED = "audit-disabled"
FAILURE_MODE_CHANGED = "failure-mode-changed"
RULES_REMOVED = "rules-removed"
BACKLOG_LOWERED = "backlog-lowered"
RATE_LIMIT_SET = "rate-limit-set"
AUDIT_PID_CHANGED = "audit-pid-changed"
EVENTS_LOST = "events-lost"
# the collector (auditd) itself
COLLECTOR_STOPPED = "collector-stopped"
COLLECTOR_KILLED = "collector-killed"
SERVICE_STOPPED = "service-stopped"
LOGGING_SUSPENDED = "logging-suspended"
# continuity of the trail
EVENTS_MISSING = "events-missing"
LOG_FILE_MISSING = "log-file-missing"
LOG_HEAD_MISSING = "log-head-missing"
SERIAL_RESTART = "serial-restart"
TIME_BACKWARDS = "time-backwards"
SILENT_GAP = "silent-gap"
# the lines themselves
LINE_MALFORMED = "line-malformed"
LINE_TRUNCATED = "line-truncated"
LINE_EDITED = "line-edited"
EVENT_INCOMPLETE = "event-incomplete"
# coverage of the exec rules
EXEC_RULES_MISSING = "exec-rules-missing"
# the running system against the trail (check-procs)
UNRECORDED_EXEC = "unrecorded-exec"
SUSPICIOUS_EXE = "suspicious-exe"
# the fleet (fleet status, over the heartbeats forwarded to ClickHouse)
HOST_SILENT = "host-silent"

DESCRIPTIONS: dict[str, str] = {
    AUDIT_DISABLED: "audit switched off (auditctl -e 0): the kernel records nothing until it is re-enabled",
    FAILURE_MODE_CHANGED: "failure mode changed (auditctl -f): 0 drops lost events silently",
    RULES_REMOVED: "audit rules deleted (auditctl -d / -D), one alarm per process: their execs go unrecorded",
    BACKLOG_LOWERED: "backlog limit or backlog wait time lowered: the kernel drops events sooner",
    RATE_LIMIT_SET: "a rate limit was set: events beyond it are dropped",
    AUDIT_PID_CHANGED: "another process took over (or left) the audit daemon registration",
    EVENTS_LOST: "the kernel's lost counter rose: events were dropped",
    COLLECTOR_STOPPED: "auditd stopped (DAEMON_END/DAEMON_ABORT); the span until it restarts is a blind spot",
    COLLECTOR_KILLED: "auditd started again without having stopped cleanly (killed or crashed): blind spot",
    SERVICE_STOPPED: "the auditd service was stopped (SERVICE_STOP from the service manager)",
    LOGGING_SUSPENDED: "auditd had suspended logging (DAEMON_RESUME): events in between are not in the log",
    EVENTS_MISSING: "kernel serial numbers are missing: events were removed from the log or never written",
    LOG_FILE_MISSING: "a log file does not continue the previous one: a rotated file is missing or truncated",
    LOG_HEAD_MISSING: "the log starts in the middle of the trail: its beginning was cut off",
    SERIAL_RESTART: "serial numbers start again without DAEMON_START: reboot with the log cut, or splicing",
    TIME_BACKWARDS: "time goes backwards: the clock was set back, or records were moved",
    SILENT_GAP: "a long stretch with no records on an otherwise busy host",
    LINE_MALFORMED: "a line that auditd cannot have written (edited by hand, or damaged)",
    LINE_TRUNCATED: "the last line of a file is cut short",
    LINE_EDITED: "a well-formed line that contradicts the rest of the log (ENRICHED part, duplicates)",
    EVENT_INCOMPLETE: "records of an exec event are missing: its SYSCALL line (who ran it) or other lines",
    EXEC_RULES_MISSING: "exec events were not recorded (procmon rules absent, no exec at all) over a span",
    UNRECORDED_EXEC: "a running process started by an exec that is not in the trail",
    SUSPICIOUS_EXE: "a running process whose executable was deleted or lives in memfd:, /dev/shm or /tmp",
    HOST_SILENT: "a host's heartbeats stopped (over twice its interval) without a 'stopped' one (certain)",
}

__all__ = [name for name in dir() if name.isupper()]
