"""Alarms that cover a span of time: they open on one record and close on a later one.

* audit disabled: closes at the next kernel record (nothing is logged, and no serial used, while
  audit is off), which bounds how long it was off;
* rules removed: closes when a rule with the same key is added again;
* auditd stopped / killed / suspended: closes at the first kernel record after DAEMON_START or
  DAEMON_RESUME, whose serial tells how many events the kernel emitted in between.

Spans still open at the end of the input are reported as lasting until the end of the trail.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from exectrail.interference import kinds
from exectrail.interference.notices import Actor, daemon_actor, record_text, time_ms
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm, Record
from exectrail.timefmt import format_duration, iso

#: a serial this far below the highest seen means the numbering started again (reboot or splice)
RESTART_SERIALS = 1000
#: auditd registers a few ms before it writes DAEMON_START; records older than this are stragglers
STRAGGLER_MS = 200


def close_alarm(alarm: Alarm, end: Record | None, start_ms: int, what: str) -> Alarm:
    """``alarm`` with the span closed at ``end`` (None: still open at the end of the trail)."""
    details = dict(alarm.details)
    if end is None:
        details["until"] = None
        summary = f"{alarm.summary}; {what} before the end of the trail"
        return dataclasses.replace(alarm, summary=summary, details=details)
    end_ms = time_ms(end)
    details["until"] = iso(end.time)
    details["blind_ms"] = max(end_ms - start_ms, 0)
    summary = f"{alarm.summary}; {what} {format_duration(max(end_ms - start_ms, 0))} later"
    evidence = (*alarm.evidence, record_text(end))
    return dataclasses.replace(alarm, summary=summary, details=details, evidence=evidence)


@dataclass
class Blind:
    """An auditd outage, opened by DAEMON_START/DAEMON_RESUME, closed by the next kernel record."""

    kind: str
    marker: Record  # the DAEMON_START or DAEMON_RESUME
    stop: Record | None  # DAEMON_END/DAEMON_ABORT, or the last record before (killed / suspended)
    hi_before: int | None  # highest kernel serial before the outage
    stragglers: set[int] = field(default_factory=set)  # serials of old records delivered after it

    def close(self, first: Record | None) -> Alarm:
        """The alarm, with the outage measured up to ``first`` (the first kernel record after)."""
        start_ms = time_ms(self.stop) if self.stop is not None else time_ms(self.marker)
        blind_ms = max(time_ms(self.marker) - start_ms, 0)
        details: dict[str, object] = {"restarted": iso(self.marker.time)}
        details["blind_ms"] = blind_ms
        lost_text = ""
        if first is not None and self.hi_before is not None:
            serial = first.serial
            if serial > self.hi_before + 1:
                missing = (
                    serial - self.hi_before - 1 - sum(self.hi_before < s < serial for s in self.stragglers)
                )
                details["serials_missing"] = [self.hi_before + 1, serial - 1]
                details["events_missing"] = missing
                lost_text = (
                    f"; {missing} kernel event{'s' if missing != 1 else ''} (serials "
                    f"{self.hi_before + 1}-{serial - 1}) are not in the log (maybe in the kernel log)"
                )
            elif serial < self.hi_before - RESTART_SERIALS:
                details["rebooted"] = True
                lost_text = "; serial numbers restarted: the host rebooted"
        certainty = CERTAIN
        if self.kind == kinds.LOGGING_SUSPENDED and not details.get("events_missing"):
            # SIGUSR2 makes auditd write DAEMON_RESUME even when it was not suspended
            certainty = SUSPICIOUS
            lost_text = "; no kernel event is missing from the log"
        summary = self._summary(blind_ms) + lost_text
        evidence = [record_text(r) for r in (self.stop, self.marker, first) if r is not None]
        when = self.stop.time if self.stop is not None else self.marker.time
        return Alarm(self.kind, when, summary, certainty, self.marker.node, details, tuple(evidence))

    def _summary(self, blind_ms: int) -> str:
        span = format_duration(blind_ms)
        if self.kind == kinds.COLLECTOR_KILLED:
            return (
                f"auditd started again without a DAEMON_END: the previous auditd was killed or "
                f"crashed; nothing was recorded for at least {span} before the restart"
            )
        if self.kind == kinds.LOGGING_SUSPENDED:
            who = daemon_actor(self.marker)
            by = f", signal from {who.describe()}" if who.pid else ""
            return (
                f"auditd resumed logging (DAEMON_RESUME{by}): it had suspended writing (disk space action?)"
            )
        assert self.stop is not None
        how = "aborted (DAEMON_ABORT)" if self.stop.type == "DAEMON_ABORT" else "stopped (DAEMON_END)"
        who = daemon_actor(self.stop)
        by = f", signal from {who.describe()}" if self.stop.type == "DAEMON_END" and who.pid else ""
        return f"auditd {how}{by}; restarted {span} later: nothing was recorded in between"


def stopped_at_end(stop: Record) -> Alarm:
    """auditd stopped and the trail has nothing after it."""
    how = "aborted (DAEMON_ABORT)" if stop.type == "DAEMON_ABORT" else "stopped (DAEMON_END)"
    who: Actor = daemon_actor(stop)
    by = f", signal from {who.describe()}" if stop.type == "DAEMON_END" and who.pid else ""
    summary = f"auditd {how}{by}; the trail ends there: nothing after it is recorded"
    details: dict[str, object] = {"actor": who.as_details(), "restarted": None}
    return Alarm(
        kinds.COLLECTOR_STOPPED, stop.time, summary, CERTAIN, stop.node, details, (record_text(stop),)
    )
