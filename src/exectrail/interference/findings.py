"""Alarm builders for :mod:`~exectrail.interference.trail` (the wording of each finding), and the
cheap record checks it uses."""

from __future__ import annotations

import os

from exectrail.interference import kinds
from exectrail.interference.notices import record_text, time_ms
from exectrail.interference.serials import Cluster, Hole
from exectrail.model import CERTAIN, SUSPICIOUS, Alarm, Record, event_id
from exectrail.parse.types import EXEC_SYSCALLS, arch_name
from exectrail.timefmt import format_duration, iso, ms_to_time


def head_alarm(file: str, r: Record) -> Alarm | None:
    """The first file of a trail that starts mid-stream: reported unless it is a rotated file (older
    rotations are deleted by auditd as a matter of course) or its rotation ``FILE.1`` is there (the
    user gave only the current file of a set rotated by size, which starts mid-stream by nature)."""
    if looks_rotated(file) or any(os.path.exists(f"{file}.1{ext}") for ext in ("", ".gz")):
        return None
    summary = (
        f"{file} starts in the middle of the trail (first record {r.type}, not DAEMON_START): "
        "its beginning was cut off, or the rotated file before it was not given"
    )
    details: dict[str, object] = {"file": file, "first_type": r.type}
    return Alarm(kinds.LOG_HEAD_MISSING, r.time, summary, SUSPICIOUS, r.node, details, (record_text(r),))


def restart_alarm(before: Record | None, r: Record, hi: int) -> Alarm:
    """Serial numbers that start again low without a DAEMON_START."""
    summary = (
        f"kernel serial numbers start again at {r.serial} (after {hi}) without a DAEMON_START: "
        "a reboot with the log cut, or records from another log spliced in"
    )
    evidence = tuple(record_text(x) for x in (before, r) if x is not None)
    details: dict[str, object] = {"serial": r.serial, "previous_serial": hi}
    return Alarm(kinds.SERIAL_RESTART, r.time, summary, SUSPICIOUS, r.node, details, evidence)


def moved_alarm(node: str | None, r: Record, tmax: int) -> Alarm:
    """An event with an old serial and an old time showing up later: a duplicated or moved record
    (a long syscall also comes late, but with a new serial, since serials are given at emission)."""
    back = tmax - time_ms(r)
    summary = (
        f"an event with serial {r.serial} from {format_duration(back)} earlier appears after later "
        "events: a record was copied or moved by hand"
    )
    details: dict[str, object] = {"serial": r.serial, "back_ms": back}
    return Alarm(kinds.LINE_EDITED, r.time, summary, CERTAIN, node, details, (record_text(r),))


def file_missing_alarm(node: str | None, hole: Hole, boundary: tuple[str, str]) -> Alarm:
    """Serials missing between two files: a rotated file removed, or the earlier one truncated."""
    prev, this = boundary
    summary = (
        f"{this} does not continue {prev}: {hole.count} kernel events (serials {hole.lo}-{hole.hi}) "
        f"are missing between them; a rotated log file was removed, or {prev} was truncated"
    )
    details: dict[str, object] = {
        "previous_file": prev,
        "file": this,
        "serials_missing": [hole.lo, hole.hi],
        "events_missing": hole.count,
    }
    evidence = tuple(record_text(x) for x in (hole.before, hole.after) if x is not None)
    return Alarm(kinds.LOG_FILE_MISSING, hole.after.time, summary, CERTAIN, node, details, evidence)


def time_backwards_alarm(node: str | None, first: Record, tmax: int) -> Alarm:
    """Time went back and stayed back (two events in a row)."""
    back = tmax - time_ms(first)
    summary = (
        f"time goes back {format_duration(back)} (to {first.time:%H:%M:%S} after a later record) "
        "and stays there: the clock was set back, or records were moved or spliced in"
    )
    details: dict[str, object] = {"back_ms": back, "serial": first.serial}
    return Alarm(kinds.TIME_BACKWARDS, first.time, summary, SUSPICIOUS, node, details, (record_text(first),))


def silent_gap_alarms(
    node: str | None,
    histogram: list[int],
    candidates: list[tuple[int, Record, Record, int]],
    min_ms: int,
    factor: int,
) -> list[Alarm]:
    """Quiet stretches at least ``min_ms`` long and ``factor`` times the 99th percentile of the gaps
    between events (so a host whose activity comes in bursts with long pauses is never "busy")."""
    events = sum(histogram)
    if events < 100 or not candidates:
        return []
    rank, seen, p99_bits = events * 99 // 100, 0, 0
    for bits, count in enumerate(histogram):
        seen += count
        if seen > rank:
            p99_bits = bits
            break
    p99_ms = 1 << p99_bits  # upper bound of the bucket: conservative
    threshold = max(min_ms, factor * p99_ms)
    out = []
    for gap, before, after, skipped in candidates:
        if gap < threshold:
            continue
        if skipped > 0:
            serials = f"{skipped} serial number(s) missing across it (see events-missing)"
        else:
            serials = "the serial numbers continue across it (nothing was cut out of the file)"
        summary = (
            f"no record at all for {format_duration(gap)} on a busy host (99% of gaps between events are "
            f"under {format_duration(p99_ms)}); {serials}: events were lost in the kernel, audit was off, "
            "or the host was idle"
        )
        details: dict[str, object] = {
            "gap_ms": gap,
            "p99_gap_ms": p99_ms,
            "events": events,
            "serials_skipped": max(skipped, 0),
            "until": iso(after.time),
        }
        evidence = (record_text(before), record_text(after))
        out.append(Alarm(kinds.SILENT_GAP, before.time, summary, SUSPICIOUS, node, details, evidence))
    return out


def missing_alarm(node: str | None, cluster: Cluster) -> Alarm:
    ranges = ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in cluster.ranges)
    more = "" if cluster.items <= len(cluster.ranges) else ", …"
    summary = (
        f"{cluster.count} kernel event{'s' if cluster.count != 1 else ''} missing from the log "
        f"(serials {ranges}{more}): removed by hand, lost in the kernel, dropped by a rate limit, "
        "or never written"
    )
    details: dict[str, object] = {
        "events_missing": cluster.count,
        "holes": cluster.items,
        "serial_ranges": [list(r) for r in cluster.ranges],
    }
    when = cluster.first_record.time if cluster.first_record is not None else None
    assert when is not None
    return Alarm(kinds.EVENTS_MISSING, when, summary, CERTAIN, node, details, tuple(cluster.evidence))


def incomplete_alarm(node: str | None, cluster: Cluster) -> Alarm:
    summary = (
        f"{cluster.count} exec event{'s' if cluster.count != 1 else ''} with records missing: lines "
        "removed from the log, or records lost in the kernel"
    )
    details: dict[str, object] = {"events": cluster.count}
    assert cluster.first_record is not None
    evidence = tuple(cluster.evidence)
    return Alarm(
        kinds.EVENT_INCOMPLETE, cluster.first_record.time, summary, SUSPICIOUS, node, details, evidence
    )


#: what the kernel writes for every exec (EXECVE only when it succeeds), SYSCALL first
EXEC_RECORDS = ("SYSCALL", "CWD", "PATH", "PROCTITLE")


def headless_alarm(node: str | None, cluster: Cluster, missing: list[str], execs: bool = True) -> Alarm:
    """Events whose SYSCALL record is gone: the kernel writes it first and no other record of the
    event without it, so the line was removed. ``execs``: the events have an EXECVE record (certain
    execs); else they have CWD/PATH/PROCTITLE records only (a failed exec, or another syscall)."""
    assert cluster.first_record is not None
    ids = [event_id(node, ms_to_time(ms), serial) for serial, ms in cluster.ranges]
    what = "exec event" if execs else "event"
    if cluster.count == 1:
        lacks = ", ".join(missing) + (" records" if len(missing) > 1 else " record")
        summary = f"{what} {ids[0]} has no {lacks}"
    else:
        summary = f"{cluster.count} {what}s have no SYSCALL record (first: {ids[0]})"
    if execs:
        summary += ": who ran it (pid, user, program) is not in the log; the line was removed"
    else:
        summary += (
            " though its CWD/PATH/PROCTITLE records are there: the process behind it (a failed exec, "
            "or another syscall) is not in the log; the line was removed"
        )
    details: dict[str, object] = {"events": cluster.count, "event_ids": ids, "missing": missing}
    certainty = CERTAIN if execs else SUSPICIOUS
    evidence = tuple(cluster.evidence)
    return Alarm(
        kinds.EVENT_INCOMPLETE, cluster.first_record.time, summary, certainty, node, details, evidence
    )


_EXEC_CACHE: dict[bytes, bool] = {}


def is_exec(body: bytes) -> bool:
    """True for a SYSCALL body of execve/execveat on any architecture (read without a full split)."""
    head = body[: body.find(b" success=")]
    known = _EXEC_CACHE.get(head)
    if known is not None:
        return known
    found = _is_exec(head)
    if len(_EXEC_CACHE) < 4096:
        _EXEC_CACHE[head] = found
    return found


def _is_exec(head: bytes) -> bool:
    """``arch=c000003e syscall=59`` → True."""
    if not head.startswith(b"arch="):
        return False
    end = head.find(b" ", 5)
    start = head.find(b"syscall=", end)
    if end < 0 or start < 0:
        return False
    stop = head.find(b" ", start)
    value = head[start + 8 : stop if stop > 0 else None]
    if value in (b"execve", b"execveat"):  # an interpreted log (ausearch -i)
        return True
    try:
        number = int(value)
    except ValueError:
        return False
    return (arch_name(head[5:end].decode("ascii", "replace")), number) in EXEC_SYSCALLS


def incompleteness(body: bytes, types: list[str]) -> str | None:
    """What an exec event (its record ``types``) lacks compared with what the kernel always writes."""
    if "PROCTITLE" not in types:
        return "no PROCTITLE record"
    if "CWD" not in types:
        return "no CWD record"
    if b" success=yes " in body and "EXECVE" not in types:
        return "successful exec without EXECVE record"
    start = body.find(b" items=")
    if start >= 0:
        stop = body.find(b" ", start + 7)
        try:
            items = int(body[start + 7 : stop if stop > 0 else None])
        except ValueError:
            return None
        paths = types.count("PATH")
        if paths != items:
            return f"items={items} but {paths} PATH record{'s' if paths != 1 else ''}"
    return None


def looks_rotated(name: str) -> bool:
    """``audit.log.3`` or ``audit.log.3.gz``: older rotations are deleted by auditd as a matter of course."""
    parts = os.path.basename(name).rsplit(".", 2)
    return any(p.isdigit() for p in parts[1:])


UNIQUE_TYPES = ("SYSCALL", "CWD", "PROCTITLE", "BPRM_FCAPS")


def duplicated_type(types: list[str]) -> str | None:
    """A record type the kernel writes once per event that appears twice (a copied line), or None."""
    if len(types) == len(set(types)):
        return None
    return next((t for t in UNIQUE_TYPES if types.count(t) > 1), None)


def duplicate_alarm(node: str | None, cluster: Cluster) -> Alarm:
    """Records or whole events that appear twice: copied by hand (auditd writes each once)."""
    summary = (
        f"{cluster.count} event{'s' if cluster.count != 1 else ''} written twice in the log: "
        "records were copied by hand (auditd writes each record once)"
    )
    details: dict[str, object] = {"events": cluster.count}
    assert cluster.first_record is not None
    return Alarm(
        kinds.LINE_EDITED, cluster.first_record.time, summary, CERTAIN, node, details, tuple(cluster.evidence)
    )
