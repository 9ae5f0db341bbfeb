"""Were exec events being recorded at all? Tracking the procmon rules and exec events per host.

Two findings, both from the log alone:

* the procmon rules were added (``op=add_rule key="procmon" res=1``) long after auditd started (or
  after the trail begins) with no exec event recorded before: a successful ``add_rule`` proves the
  rule was not loaded until then, so execs in that span were not recorded (certain);
* a whole trail of some length without a single exec event and without the rules ever being added:
  the exec rules were most likely not loaded at all (suspicious: the host may have been idle).
"""

from __future__ import annotations

from exectrail.interference import kinds
from exectrail.interference.notices import Change, time_ms
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm
from exectrail.timefmt import format_duration, iso, ms_to_time

MIN_TRAIL_MS = 60_000  # a trail this long (or MIN_TRAIL_RECORDS events) without execs is reported
MIN_TRAIL_RECORDS = 100


class Coverage:
    """Exec rule coverage of one host's trail."""

    def __init__(self, key: str, late_ms: int) -> None:
        self.key = key
        self.late_ms = late_ms
        self.first_ms: int | None = None
        self.session_ms: int | None = None
        self.session_label = "the trail begins"
        self.session_exec = False
        self.session_checked = False
        self.exec_events = 0
        self.rules_added = 0
        self.first_exec_ms: int | None = None
        self.first_rule_ms: int | None = None

    def session_start(self, t: int, daemon: bool = False) -> None:
        """auditd started (``daemon``), or the first record of the trail was seen."""
        if self.first_ms is None:
            self.first_ms = t
        self.session_ms = t
        self.session_label = "auditd started" if daemon else "the trail begins"
        self.session_exec = False
        self.session_checked = False

    def exec_event(self, t: int) -> None:
        self.exec_events += 1
        self.session_exec = True
        if self.first_exec_ms is None:
            self.first_exec_ms = t

    @property
    def since_ms(self) -> int | None:
        """When exec events began to be recorded: the first procmon rule added or exec event."""
        known = [t for t in (self.first_exec_ms, self.first_rule_ms) if t is not None]
        return min(known) if known else None

    def rule_added(self, change: Change) -> Alarm | None:
        """A successful ``add_rule``; an alarm when it is a procmon rule added late."""
        if change.key != self.key:
            return None
        self.rules_added += 1
        if self.first_rule_ms is None:
            self.first_rule_ms = change.time_ms
        if self.session_checked or self.session_ms is None:
            return None
        self.session_checked = True
        late = change.time_ms - self.session_ms
        if self.session_exec or late < self.late_ms:
            return None
        summary = (
            f"the {self.key} exec rules were only added {format_duration(late)} after "
            f"{self.session_label}: no exec was recorded before that"
        )
        when = ms_to_time(self.session_ms)
        details: dict[str, object] = {"key": self.key, "missing_ms": late, "until": iso(change.record.time)}
        return Alarm(
            kinds.EXEC_RULES_MISSING, when, summary, CERTAIN, change.record.node, details, change.evidence
        )

    def finish(self, node: str | None, events: int, last_ms: int) -> Alarm | None:
        """At the end: a trail without any exec event and without the rules ever added."""
        if self.exec_events or self.rules_added or self.first_ms is None:
            return None
        span = last_ms - self.first_ms
        if span < MIN_TRAIL_MS and events < MIN_TRAIL_RECORDS:
            return None
        summary = (
            f"no exec event at all in this trail ({events} events over {format_duration(span)}) and "
            f"the {self.key} rules are never added: exec events were most likely not being recorded"
        )
        details: dict[str, object] = {"key": self.key, "events": events, "span_ms": span}
        when = ms_to_time(self.first_ms)
        return Alarm(kinds.EXEC_RULES_MISSING, when, summary, SUSPICIOUS, node, details, ())


__all__ = ["Coverage", "time_ms"]
