"""After the fact: interference found in a stream of audit records (one or several log files).

Feed it in log order -- the log-scan path (:class:`exectrail.pipeline.LogScan`, through
:class:`~exectrail.interference.detector.LogAudit`) does: :meth:`TrailAuditor.begin_file` before each
file, :meth:`~TrailAuditor.record` for every record, :meth:`~TrailAuditor.group` for every closed
event, :meth:`~TrailAuditor.end_input` before the assembler is flushed, then
:meth:`~TrailAuditor.finish`. :meth:`~TrailAuditor.take` hands out
the alarms found so far, so a reader can print them as it goes. State is kept per ``node``.

Continuity (serial holes, restarts, file boundaries, time) is checked per record; configuration
changes, exec coverage and event completeness per event.
"""

from __future__ import annotations

from exectrail.interference import findings, kinds
from exectrail.interference.notices import (
    DAEMON_STOPS,
    Change,
    parse_change,
    record_text,
    rules_removed_alarm,
    service_stop_alarm,
    setting_alarm,
    time_ms,
)
from exectrail.interference.serials import Hole
from exectrail.interference.spans import RESTART_SERIALS, STRAGGLER_MS, Blind, close_alarm, stopped_at_end
from exectrail.interference.trailstate import RECENT_EVENTS, NodeState, Settings
from exectrail.model import Alarm, Record

BACK_TOLERANCE_MS = 3000  # records of concurrent events can be this much out of time order
GAP_CANDIDATE_MS = 1000  # quiet stretches at least this long are remembered as silent-gap candidates
BURST_MS = 2000  # remove_rule events this close together are one deletion (auditctl -D)
HEAD_TYPES = frozenset({"DAEMON_START", "DAEMON_ROTATE"})
HEAD_EVENTS = 16  # events at the start of a file may have begun in the file before it (or in none)
EXEC_PARTS = frozenset({"EXECVE", "CWD", "PATH", "PROCTITLE", "BPRM_FCAPS"})
_EVIDENCE_ORDER = {"EXECVE": 0, "CWD": 1, "PATH": 2, "PROCTITLE": 3}
SYSCALL_PARTS = frozenset({"CWD", "PATH", "PROCTITLE"})  # written only with a SYSCALL record
CUT_EVENTS = 4  # the last events written before auditd stops may miss their last records
TAIL_EVENTS = 16  # events this close to the end of the input may be cut by it: not checked


class TrailAuditor:
    """Finds interference in audit records; see the module docstring for the protocol."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._nodes: dict[str | None, NodeState] = {}
        self._alarms: list[Alarm] = []
        self._taken = 0
        self._file: str | None = None
        self._files = 0
        self._first_in_file = False
        self._file_head = 0  # events still to come at the start of the current file
        self._input_done = False

    # -- input ---------------------------------------------------------------------------------
    def begin_file(self, name: str) -> None:
        """A new file starts; its first records must continue the previous file."""
        previous, self._file = self._file, name
        self._files += 1
        self._first_in_file = True
        self._file_head = HEAD_EVENTS
        if previous is not None:
            for st in self._nodes.values():
                st.boundary = (previous, name)

    def record(self, r: Record) -> None:
        """One record, in log order."""
        st = self._nodes.get(r.node)
        if st is None:
            st = self._nodes[r.node] = NodeState(
                r.node, self.settings.procmon_key, self.settings.rules_late_ms
            )
        key = r.key
        if key == st.last_key:  # another record of the same event: nothing new (most records)
            st.last = r
            return
        if self._first_in_file:  # (the first record of the first file always starts a new event)
            self._first_in_file = False
            self._check_head(r)
        st.last_key = key
        st.records += 1
        if self._file_head:  # the file may start inside these events: their first lines may be elsewhere
            self._file_head -= 1
            st.head_keys.add(key)
        t = time_ms(r)
        if (st.preamble is not None or st.blind is not None) and self._straggler(st, r, t):
            return
        self._clock(st, r, t)
        if r.type.startswith("DAEMON_"):
            self._daemon(st, r, t)
        else:
            self._kernel(st, r, t)
        st.last = r

    def group(self, group: list[Record]) -> None:
        """One closed event (all its records)."""
        first = group[0]
        st = self._nodes.get(first.node)
        if st is None:
            return
        key, closed = first.key, st.closed
        if key in closed:
            self._duplicate(st, group, "the same event appears twice")
        else:
            order = st.closed_order
            if len(order) == RECENT_EVENTS:
                closed.discard(order[0])
            order.append(key)
            closed.add(key)
        rtype = first.type  # the kernel writes CONFIG_CHANGE before the SYSCALL of its event
        if rtype == "SYSCALL":
            self._exec(st, group, first)
        elif rtype in EXEC_PARTS:
            syscall = next((r for r in group if r.type == "SYSCALL"), None)
            if syscall is not None:  # lines moved around, but the event is whole
                self._exec(st, group, syscall)
            else:
                self._headless(st, group)
        elif rtype == "CONFIG_CHANGE":
            change = parse_change(group)
            if change is not None:
                self._change(st, change)
        elif rtype == "SERVICE_STOP":
            self._emit(service_stop_alarm(group))

    def end_input(self) -> None:
        """All records are in; groups that follow are closed by the end of input, not complete."""
        self._input_done = True

    # -- output --------------------------------------------------------------------------------
    def take(self) -> list[Alarm]:
        """Alarms found since the last call."""
        new = self._alarms[self._taken :]
        self._taken = len(self._alarms)
        return new

    def finish(self) -> list[Alarm]:
        """Close everything still open; return the alarms not yet taken."""
        for st in self._nodes.values():
            self._finish_node(st)
        return self.take()

    def monitoring_since_ms(self) -> int | None:
        """When exec events began to be recorded (first procmon rule added or exec event), any host."""
        known = [t for st in self._nodes.values() if (t := st.coverage.since_ms) is not None]
        return min(known) if known else None

    @property
    def pending(self) -> bool:
        """True when :meth:`take` has something to hand out."""
        return len(self._alarms) > self._taken

    @property
    def alarms(self) -> list[Alarm]:
        return list(self._alarms)

    def _emit(self, alarm: Alarm | None) -> None:
        if alarm is not None:
            self._alarms.append(alarm)

    # -- per record ----------------------------------------------------------------------------
    def _check_head(self, r: Record) -> None:
        if self._files == 1 and self._file is not None and r.type not in HEAD_TYPES:
            self._emit(findings.head_alarm(self._file, r))

    def _daemon(self, st: NodeState, r: Record, t: int) -> None:
        rtype = r.type
        if rtype in ("DAEMON_START", "DAEMON_RESUME") and st.blind is not None:
            self._emit(st.blind.close(None))  # an outage with no kernel record before the next one
            st.blind = None
        if rtype == "DAEMON_START":
            if st.session == "stopped" and st.stop is not None:
                st.blind = Blind(kinds.COLLECTOR_STOPPED, r, st.stop, st.hi)
            elif st.session == "unknown":
                st.preamble = t  # the kernel hands the new daemon records held from before it started
            elif st.session == "running":
                st.blind = Blind(kinds.COLLECTOR_KILLED, r, st.last, st.hi)
                st.cut |= {x.key for x in list(st.recent)[-CUT_EVENTS:]}
            st.session, st.stop = "running", None
            st.coverage.session_start(t, daemon=True)
        elif rtype in DAEMON_STOPS:
            st.session, st.stop = "stopped", r
            # events still being written when auditd stopped lose their last records to the kernel log
            st.cut |= {x.key for x in list(st.recent)[-CUT_EVENTS:]}
        elif rtype == "DAEMON_RESUME":
            st.blind = Blind(kinds.LOGGING_SUSPENDED, r, st.last, st.hi)

    def _kernel(self, st: NodeState, r: Record, t: int) -> None:
        if st.session == "unknown":
            st.session = "running"
            st.coverage.session_start(t)
        s = r.serial
        if st.preamble is not None:
            st.preamble, st.hi = None, None
        hi = st.hi
        st.recent.append(r)
        if st.blind is not None:
            self._emit(st.blind.close(r))
            st.blind = None
            st.hi, st.hi_record, st.boundary = s, r, None
            return
        if hi is None:
            st.hi, st.hi_record = s, r
        elif s > hi:
            if s > hi + 1:
                st.holes.add(Hole(hi + 1, s - 1, st.hi_record, r, t, st.boundary))
            st.hi, st.hi_record = s, r
        elif s < hi and not st.holes.fill(s):
            if s < hi - RESTART_SERIALS:
                self._restart(st, r, hi)
            elif t < st.tmax - BACK_TOLERANCE_MS:
                self._emit(findings.moved_alarm(st.node, r, st.tmax))
        st.boundary = None
        if st.holes:
            for hole in st.holes.expired(t):
                self._hole(st, hole)
        if st.disabled:
            self._resume(st, r)
        if st.burst and t - time_ms(st.burst[-1].record) > BURST_MS:
            self._flush_burst(st)

    def _straggler(self, st: NodeState, r: Record, t: int) -> bool:
        """A kernel record made before auditd (re)started, handed to it late by the kernel: part of
        the outage (or of the time before the trail), not of the stream after it."""
        if r.type.startswith("DAEMON_"):
            return False
        marker = st.preamble if st.preamble is not None else time_ms(st.blind.marker) if st.blind else None
        if marker is None or t >= marker - STRAGGLER_MS:
            return False
        if st.blind is not None:
            st.blind.stragglers.add(r.serial)
        st.last = r
        return True

    def _restart(self, st: NodeState, r: Record, hi: int) -> None:
        self._emit(findings.restart_alarm(st.hi_record, r, hi))
        for hole in st.holes.drain():
            self._hole(st, hole)
        st.hi, st.hi_record = r.serial, r

    def _hole(self, st: NodeState, hole: Hole) -> None:
        if hole.boundary is not None:
            self._emit(findings.file_missing_alarm(st.node, hole, hole.boundary))
            return
        evidence = [record_text(x) for x in (hole.before, hole.after) if x is not None]
        closed = st.missing.add(
            hole.seen_ms, hole.count, hole.before or hole.after, evidence, (hole.lo, hole.hi)
        )
        if closed is not None:
            self._emit(findings.missing_alarm(st.node, closed))

    def _clock(self, st: NodeState, r: Record, t: int) -> None:
        tmax = st.tmax
        if t >= tmax:
            if tmax:
                gap = t - tmax
                st.histogram[gap.bit_length()] += 1
                remember = gap >= GAP_CANDIDATE_MS and st.last is not None and len(st.candidates) < 4096
                if remember and st.last is not None and self._unexplained_gap(st, r):
                    skipped = r.serial - st.hi - 1 if st.hi is not None and r.serial > st.hi else 0
                    st.candidates.append((gap, st.last, r, skipped))
            st.tmax = t
            st.back = None
        elif t < tmax - BACK_TOLERANCE_MS:
            if st.back is None:
                st.back = (r, tmax)  # one late event may be a long syscall: wait for the next
            else:
                self._emit(findings.time_backwards_alarm(st.node, st.back[0], st.back[1]))
                st.back, st.tmax = None, t
        else:
            st.back = None

    def _unexplained_gap(self, st: NodeState, after: Record) -> bool:
        """True when nothing else explains a quiet stretch ending at ``after`` (called before
        ``after`` is counted): no auditd outage, audit-off or rules-removed span is open."""
        return not (
            after.type.startswith("DAEMON_") or st.blind is not None or st.disabled or st.removed or st.burst
        )

    # -- per event -----------------------------------------------------------------------------
    def _exec(self, st: NodeState, group: list[Record], syscall: Record) -> None:
        if not findings.is_exec(syscall.body):
            return
        st.coverage.exec_event(time_ms(syscall))
        types = [r.type for r in group]
        twice = findings.duplicated_type(types)
        if twice:
            self._duplicate(st, group, f"{twice} record written twice in one event")
        elif syscall.key in st.cut:
            st.cut.discard(syscall.key)
        elif not self._input_done or (st.hi is not None and syscall.serial < st.hi - TAIL_EVENTS):
            problem = findings.incompleteness(syscall.body, types)
            if problem:
                evidence = [record_text(r) for r in group[:4]]
                closed = st.incomplete.add(time_ms(syscall), 1, syscall, [f"({problem})", *evidence])
                if closed is not None:
                    self._emit(findings.incomplete_alarm(st.node, closed))

    def _headless(self, st: NodeState, group: list[Record]) -> None:
        """Records of a syscall event without its SYSCALL record: the line that says who ran it is
        gone. With an EXECVE record it was an exec; CWD/PATH/PROCTITLE alone may be any syscall."""
        types = [r.type for r in group]
        execs = "EXECVE" in types
        if not execs and not any(t in SYSCALL_PARTS for t in types):
            return  # BPRM_FCAPS alone: nothing to tell
        first = group[0]
        t = time_ms(first)
        if execs:
            st.coverage.exec_event(t)
        if first.key in st.head_keys:
            return  # a file begins inside this event: its SYSCALL may be in the file before
        if st.blind is not None or st.preamble is not None:
            return  # records the kernel held while no auditd listened: its queues drop records alone
        missing = [x for x in findings.EXEC_RECORDS if x not in types] if execs else ["SYSCALL"]
        shown = sorted(group, key=lambda r: _EVIDENCE_ORDER.get(r.type, 9))[:3]  # the EXECVE first
        evidence = [f"({', '.join(missing)} missing)", *(record_text(r) for r in shown)]
        clusterer = st.headless if execs else st.headless_other
        closed = clusterer.add(t, 1, first, evidence, (first.serial, t))
        if closed is not None:
            lacks = st.headless_missing if execs else ["SYSCALL"]
            self._emit(findings.headless_alarm(st.node, closed, lacks, execs))
        if execs and st.headless.current is not None and st.headless.current.items == 1:
            st.headless_missing = missing  # what the first event of the new cluster lacks

    def _duplicate(self, st: NodeState, group: list[Record], what: str) -> None:
        evidence = [f"({what})", *(record_text(r) for r in group[:3])]
        closed = st.duplicates.add(time_ms(group[0]), 1, group[0], evidence)
        if closed is not None:
            self._emit(findings.duplicate_alarm(st.node, closed))

    def _change(self, st: NodeState, change: Change) -> None:
        if change.op == "remove_rule" and change.success:
            burst = st.burst
            same = bool(burst) and change.time_ms - burst[-1].time_ms <= BURST_MS
            same = same and _same_process(burst[-1], change)  # auditctl -D: one process, one alarm
            if burst and not same:
                self._flush_burst(st)
            st.burst.append(change)
            return
        if change.op == "add_rule" and change.success:
            self._flush_burst(st)
            self._readded(st, change)
            self._emit(st.coverage.rule_added(change))
            return
        alarm = setting_alarm(change)
        if alarm is None:
            return
        if alarm.kind == kinds.AUDIT_DISABLED:
            st.disabled.append((alarm, change.serial, change.time_ms))
            later = [r for r in st.recent if r.serial > change.serial]
            if later:
                self._resume(st, min(later, key=lambda r: r.serial))
            return
        self._emit(alarm)

    def _resume(self, st: NodeState, r: Record) -> None:
        keep = []
        for alarm, serial, start in st.disabled:
            if r.serial > serial:
                self._emit(close_alarm(alarm, r, start, "records resume"))
            else:
                keep.append((alarm, serial, start))
        st.disabled = keep

    def _flush_burst(self, st: NodeState) -> None:
        if not st.burst:
            return
        changes, st.burst = st.burst, []
        alarm = rules_removed_alarm(changes, self.settings.procmon_key)
        keys = {c.key for c in changes if c.key == self.settings.procmon_key}
        if keys:
            st.removed.append((alarm, keys, changes[0].time_ms))
        else:
            self._emit(alarm)

    def _readded(self, st: NodeState, change: Change) -> None:
        keep = []
        for alarm, keys, start in st.removed:
            if change.key in keys:
                self._emit(close_alarm(alarm, change.record, start, "a rule with that key was added again"))
            else:
                keep.append((alarm, keys, start))
        st.removed = keep

    # -- end -----------------------------------------------------------------------------------
    def _finish_node(self, st: NodeState) -> None:
        self._flush_burst(st)
        if st.blind is not None:
            self._emit(st.blind.close(None))
            st.blind = None
        for hole in st.holes.drain():
            self._hole(st, hole)
        for clusterer, make in (
            (st.missing, findings.missing_alarm),
            (st.incomplete, findings.incomplete_alarm),
            (st.duplicates, findings.duplicate_alarm),
        ):
            cluster = clusterer.close()
            if cluster is not None:
                self._emit(make(st.node, cluster))
        headless = st.headless.close()
        if headless is not None:
            self._emit(findings.headless_alarm(st.node, headless, st.headless_missing))
        headless = st.headless_other.close()
        if headless is not None:
            self._emit(findings.headless_alarm(st.node, headless, ["SYSCALL"], execs=False))
        for alarm, _serial, start in st.disabled:
            self._emit(close_alarm(alarm, None, start, "no record shows it re-enabled"))
        for alarm, _keys, start in st.removed:
            self._emit(close_alarm(alarm, None, start, "not added again"))
        st.disabled, st.removed = [], []
        if st.session == "stopped" and st.stop is not None:
            self._emit(stopped_at_end(st.stop))
        self._silent_gaps(st)  # (a single late event at the very end is a long syscall: not reported)
        self._emit(st.coverage.finish(st.node, st.records, st.tmax))

    def _silent_gaps(self, st: NodeState) -> None:
        settings = self.settings
        for alarm in findings.silent_gap_alarms(
            st.node, st.histogram, st.candidates, settings.silent_gap_ms, settings.silent_factor
        ):
            self._emit(alarm)


def _same_process(a: Change, b: Change) -> bool:
    """True unless both changes name who made them and those are different processes."""
    return a.actor is None or b.actor is None or a.actor.pid == b.actor.pid


__all__ = ["Settings", "TrailAuditor"]
