"""Grouping records into events and building exec events."""

from __future__ import annotations

from exectrail.assemble.execve import build_exec_event
from exectrail.assemble.grouper import Assembler
from exectrail.model import Diagnostics, Record
from exectrail.parse.record import parse_line
from exectrail.pipeline import EventBuilder, exec_events
from tests.support.kernel_format import log_lines


def records(lines: list[bytes]) -> list[Record]:
    return [parse_line(line) for line in lines]


def test_interleaved_events_with_serial_going_down() -> None:
    a = log_lines("1795617647.510", 12, [b"ls", b"-l"], pid=11)
    b = log_lines("1795617647.509", 11, [b"cat", b"x"], pid=10)
    mixed = [line for pair in zip(a, b, strict=True) for line in pair]
    events = list(exec_events(records(mixed), Diagnostics()))
    assert sorted((e.pid, e.argv) for e in events) == [(10, (b"cat", b"x")), (11, (b"ls", b"-l"))]


def test_eoe_closes_and_events_idle_by_arrival_are_evicted_as_incomplete() -> None:
    asm = Assembler(idle_records=3)
    syscall = parse_line(log_lines("100.000", 1, [b"true"])[0])
    assert asm.feed(syscall) == []
    # records of other events, even with an older time, leave it open until three came after it
    others = [parse_line(b'type=CWD msg=audit(50.000:%d): cwd="/"\n' % n) for n in (2, 3, 4)]
    assert asm.feed(others[0]) == [] and asm.feed(others[1]) == []
    assert asm.feed(others[2]) == [[syscall]]
    assert asm.stats.incomplete == 1
    assert asm.feed(Record("EOE", b"50.000:3", b"")) == [[others[1]]]
    assert asm.stats.incomplete == 1 and len(asm) == 2


def test_an_event_that_keeps_receiving_records_stays_open() -> None:
    asm = Assembler(idle_records=3)
    mine = [parse_line(line) for line in log_lines("100.000", 1, [b"true"])]
    closed = []
    for n, record in enumerate(mine):  # two records of other events between each of its own
        closed += asm.feed(record)
        for k in range(2):
            closed += asm.feed(parse_line(b'type=CWD msg=audit(1.000:%d): cwd="/"\n' % (10 + 2 * n + k)))
    assert mine in closed and asm.stats.incomplete == len(closed) - 1


def test_expire_closes_what_stopped_arriving_by_the_wall_clock() -> None:
    asm = Assembler(idle_seconds=2)
    syscall = parse_line(log_lines("9999999.000", 1, [b"true"])[0])  # a future time changes nothing
    asm.feed(syscall)
    assert asm.expire(1000.0) == [] and asm.expire(1001.5) == []
    late = parse_line(log_lines("9999999.000", 2, [b"true"])[0])
    asm.feed(late)  # arrives at 1001.5
    assert asm.expire(1002.0) == [[syscall]]
    assert asm.expire(1003.0) == []
    assert asm.expire(1004.0) == [[late]]
    assert len(asm) == 0 and asm.stats.incomplete == 2


def test_open_events_are_bounded() -> None:
    asm = Assembler(idle_records=10**6, max_open=100)
    for serial in range(1000):
        asm.feed(parse_line(b'type=CWD msg=audit(100.000:%d): cwd="/"\n' % serial))
    assert len(asm) <= 100
    assert asm.stats.evicted == 900


def test_standalone_daemon_records_close_at_once() -> None:
    asm = Assembler()
    line = b"type=DAEMON_START msg=audit(100.000:7): op=start ver=3.0.9 format=enriched res=success\n"
    assert len(asm.feed(parse_line(line))) == 1


def test_failed_exec_has_no_argv_and_callers_comm() -> None:
    lines = log_lines("100.000", 5, None, success=False, exit_code=-2, comm=b"bash", exe=b"/usr/bin/bash")
    diag = Diagnostics()
    event = build_exec_event(records(lines), diag)
    assert event is not None
    assert (event.success, event.exit, event.argv, event.argc, event.comm) == (False, -2, None, None, "bash")
    assert diag.total == 0


def test_non_exec_syscall_is_not_an_exec_event() -> None:
    lines = log_lines("100.000", 5, None, syscall=44)
    diag = Diagnostics()
    assert build_exec_event(records(lines), diag) is None and diag.total == 0


def test_exec_records_under_a_non_exec_syscall_are_kept_and_reported() -> None:
    lines = log_lines("100.000", 5, [b"x"], syscall=57)  # syscall=59 edited to 57
    for body in (lines, [lines[0].replace(b" key=", b" subj=x key="), *lines[1:]]):  # both paths
        diag = Diagnostics()
        event = build_exec_event(records(body), diag)
        assert event is not None and event.syscall is None and event.arch == "x86_64"
        assert (event.argv, event.pid, event.comm, event.incomplete) == ((b"x",), 1000, "true", False)
        assert diag.counts == {"execve-wrong-syscall": 1}


def test_i386_and_execveat_and_unset_ids() -> None:
    lines = log_lines("100.000", 5, [b"t"], arch="40000003", syscall=358, auid=1000, ses=3, tty="pts0")
    event = build_exec_event(records(lines), Diagnostics())
    assert event is not None
    assert (event.arch, event.syscall, event.auid, event.ses, event.tty) == (
        "i386",
        "execveat",
        1000,
        3,
        "pts0",
    )
    unset = build_exec_event(records(log_lines("100.000", 6, [b"t"])), Diagnostics())
    assert unset is not None and unset.auid is None and unset.ses is None and unset.tty is None


def test_execve_without_syscall_still_gives_an_incomplete_event() -> None:
    lines = log_lines("100.000", 5, [b"ls", b"-l"])[1:]
    diag = Diagnostics()
    (event,) = exec_events(records(lines), diag)
    assert (event.argv, event.argc, event.cwd, event.path, event.proctitle) == (
        (b"ls", b"-l"),
        2,
        "/root",
        "/usr/bin/true",
        "ls -l",
    )
    assert (event.serial, event.time.timestamp(), event.incomplete) == (5, 100.0, True)
    assert (event.pid, event.uid, event.success, event.exit, event.arch, event.comm, event.key) == (None,) * 7
    assert diag.counts == {"execve-without-syscall": 1}


def test_records_without_execve_or_syscall_are_not_an_exec() -> None:
    lines = log_lines("100.000", 5, None)[1:]  # CWD, PATH, PROCTITLE: any syscall could write them
    assert list(exec_events(records(lines), Diagnostics())) == []


def test_argc_mismatch_is_a_diagnostic_not_a_crash() -> None:
    lines = log_lines("100.000", 5, [b"ls", b"-l"])
    lines[1] = lines[1].replace(b"argc=2", b"argc=4")
    diag = Diagnostics()
    event = build_exec_event(records(lines), diag)
    assert event is not None and event.argc == 4 and event.argv == (b"ls", b"-l") and event.incomplete
    assert diag.counts["argc-mismatch"] == 1


def test_chunked_argument_with_wrong_length_is_reported() -> None:
    lines = log_lines("100.000", 5, [b"x", b"A" * 20000])
    text = b"".join(lines).replace(b"a1_len=40000", b"a1_len=40002")
    diag = Diagnostics()
    event = build_exec_event(records(text.splitlines(keepends=True)), diag)
    assert event is not None and event.argv == (b"x", b"A" * 20000) and event.incomplete
    assert diag.counts["argv-length-mismatch"] == 1


def test_syscall_fallback_for_extra_lsm_fields() -> None:
    line = log_lines("100.000", 5, [b"id"])[0].replace(b" key=", b" subj=unconfined key=")
    event = build_exec_event(records([line, *log_lines("100.000", 5, [b"id"])[1:]]), Diagnostics())
    assert event is not None and event.argv == (b"id",) and event.key == "procmon"


def test_a_missing_syscall_field_is_null_and_counted() -> None:
    lines = log_lines("100.000", 5, [b"id"])
    lines[0] = lines[0].replace(b" pid=1000", b"")
    diag = Diagnostics()
    event = build_exec_event(records(lines), diag)
    assert event is not None and event.pid is None and event.ppid == 1 and event.argv == (b"id",)
    assert diag.counts == {"bad-syscall-record": 1} and "no pid field" in diag.samples[0].reason


def test_a_syscall_record_that_cannot_be_told_an_exec_is_counted() -> None:
    for damaged in (b"", b"syscall=5x9"):  # a failed exec (no EXECVE) whose syscall is unreadable
        lines = log_lines("100.000", 5, None, success=False, exit_code=-2)
        lines[0] = lines[0].replace(b"syscall=59", damaged)
        diag = Diagnostics()
        assert build_exec_event(records(lines), diag) is None
        assert diag.counts == {"bad-syscall-record": 1}


def test_the_builder_counts_incomplete_exec_events() -> None:
    whole = log_lines("100.000", 5, [b"ls"])
    no_syscall = log_lines("100.000", 6, [b"id"])[1:]
    no_title = log_lines("100.000", 7, [b"id"])[:-1]
    builder = EventBuilder(Diagnostics())
    events = list(exec_events(records(whole + no_syscall + no_title), builder.diagnostics, builder))
    assert [e.incomplete for e in sorted(events, key=lambda e: e.serial)] == [False, True, True]
    assert builder.incomplete == 2


def test_one_event_fed_records_forever_stays_within_the_byte_bound() -> None:
    asm = Assembler(max_open_bytes=10_000)
    body = b"item=0 name=" + b"41" * 500
    closed = []
    for _ in range(1000):  # a hostile log: PATH records of one event, never a PROCTITLE
        closed += asm.feed(Record("PATH", b"100.000:5", body))
        assert asm._held <= 10_000 + len(body)
    assert len(closed) > 50 and all(len(group) <= 10 for group in closed)
    assert asm.stats.evicted == len(closed) and asm.stats.incomplete == len(closed)
    rest = asm.flush()
    assert sum(map(len, closed + rest)) == 1000 and asm._held == 0


def test_interpreted_arch_and_syscall_names_are_read() -> None:
    lines = log_lines("100.000", 5, [b"top"])
    lines[0] = lines[0].replace(b"arch=c000003e syscall=59", b"arch=x86_64 syscall=execve")
    lines[0] = lines[0].replace(b" uid=0 ", b" uid=vagrant ")  # ausearch -i: a name no number stands for
    diag = Diagnostics()
    event = build_exec_event(records(lines), diag)
    assert event is not None and (event.arch, event.syscall, event.uid, event.euid) == (
        "x86_64",
        "execve",
        None,
        0,
    )
    assert diag.counts == {"bad-value": 1} and "uid=vagrant is not a number" in diag.samples[0].reason


def test_hex_chunk_lengths_counted_in_bytes_by_old_kernels_agree() -> None:
    text = b"".join(log_lines("100.000", 5, [b"x", b"A" * 20000]))
    for announced, intact in ((b"a1_len=40000", True), (b"a1_len=20000", True), (b"a1_len=19999", False)):
        diag = Diagnostics()
        event = build_exec_event(records(text.replace(b"a1_len=40000", announced).splitlines(True)), diag)
        assert event is not None and event.argv == (b"x", b"A" * 20000) and event.incomplete is not intact
        assert diag.total == (0 if intact else 1)


def test_many_open_events_stay_within_the_byte_bound() -> None:
    asm = Assembler(max_open_bytes=10_000)
    body = b"item=0 name=" + b"41" * 500
    closed = []
    for serial in range(100):  # events that never end, each one big record
        closed += asm.feed(Record("PATH", b"100.000:%d" % serial, body))
        assert asm._held <= 10_000
    assert len(closed) + len(asm) == 100 and asm.stats.evicted == len(closed) > 80


def test_a_successful_exec_without_its_execve_record_is_incomplete() -> None:
    lines = [line for line in log_lines("100.000", 5, [b"ls"]) if b"type=EXECVE" not in line]
    event = build_exec_event(records(lines), Diagnostics())
    assert event is not None and event.success and event.argv is None and event.incomplete
    failed = log_lines("100.000", 6, None, success=False, exit_code=-2)  # no EXECVE: nothing missing
    event = build_exec_event(records(failed), Diagnostics())
    assert event is not None and not event.success and event.argv is None and not event.incomplete
