"""The reader's fast paths give exactly what the plain way gives (see bench/review.py for the why)."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exectrail.assemble import memo
from exectrail.assemble.execve import build_exec_event
from exectrail.assemble.syscall import KERNEL_HEAD_RE
from exectrail.jsonform import format_time
from exectrail.model import Diagnostics, ExecEvent, Record, fast_constructor, new_exec_event
from exectrail.parse.fields import BadValue, decode_value
from exectrail.parse.record import _LINE_RE, MalformedRecord, header_problem, parse_block
from tests.support.kernel_format import execve_records, syscall_body


def plain_parse(block: bytes) -> tuple[list[tuple[object, ...]], list[tuple[int, str]]]:
    """parse_block as it was: every line through the header regex (and the range check)."""
    records: list[tuple[object, ...]] = []
    bad: list[tuple[int, str]] = []
    for index, line in enumerate(block.replace(b"\r\n", b"\n").split(b"\n")[:-1]):
        match = _LINE_RE.match(line)
        if match is None:
            if line.strip():
                bad.append((index, "malformed-line"))
            continue
        node, type_raw, key = match.groups()
        if header_problem(key) is not None:
            bad.append((index, "out-of-range"))
            continue
        body = line[match.end() :].partition(b"\x1d")[0]
        records.append((type_raw.decode(), key, body, None if node is None else node.decode(), None))
    return records, bad


def fast_parse(block: bytes) -> tuple[list[tuple[object, ...]], list[tuple[int, str]]]:
    bad: list[tuple[int, str]] = []

    def on_bad(index: int, _line: bytes, error: MalformedRecord) -> None:
        bad.append((index, error.kind))

    found = parse_block(block, on_bad)
    return [(r.type, r.key, r.body, r.node, r.origin) for r in found], bad


HEADERS = [
    b"type=SYSCALL msg=audit(1795617647.510:8): ",
    b"type=PATH msg=audit(1795617647.510:8): ",
    b"type=PATH msg=audit(1795617647.510:8):",  # no space: the body starts at once
    b"type=PATH msg=audit(1795617647.510:8):  ",  # two spaces: the body starts with one
    b"node=web-1 type=CWD msg=audit(1795617647.510:8): ",
    b"node=web\t1 type=CWD msg=audit(1795617647.510:8): ",  # a tab ends \S+: malformed
    b"node= type=CWD msg=audit(1795617647.510:8): ",
    b"type=UNKNOWN[1334] msg=audit(1795617647.510:9): ",
    b"type=UNKNOWN[x] msg=audit(1795617647.510:9): ",
    b"type=syscall msg=audit(1795617647.510:8): ",
    b"type=PATH msg=audit(1795617647.51:8): ",
    b"type=PATH msg=audit(1795617647.510:8) ",  # auditd 1.x: no colon
    b"type=PATH msg=audit(1795617647.510:8)",
    b"type=PATH msg=audit(1795617647.510:8)x",
    b"type=PATH msg=audit(253402300799.999:9223372036854775807): ",  # the largest in range
    b"type=PATH msg=audit(253402300800.000:8): ",  # year 10000
    b"type=PATH msg=audit(99999999999999999.510:8): ",
    b"type=PATH msg=audit(1795617647.510:9223372036854775808): ",
    b"type=PATH msg=audit(1795617647.5100:8): ",
    b"type=PATH  msg=audit(1795617647.510:8): ",
    b"type=PATH\tmsg=audit(1795617647.510:8): ",
    b"",
]
BODIES = [
    b'cwd="/tmp"',
    b"item=0 name=2F6120\x1dOUID=root",
    b"",
    b"\x1d",
    b"a b  c",
    b"\xff\x00",
    b"x\r",
    b" ",
]


def test_parse_block_matches_the_header_regex_line_by_line() -> None:
    rng = random.Random(5)
    lines = [h + b for h in HEADERS for b in BODIES]
    for _ in range(200):
        block = b"\n".join(rng.choices(lines, k=40)) + b"\n"
        assert fast_parse(block) == plain_parse(block)


def test_parse_block_on_captured_lines() -> None:
    block = b"".join(
        b"type=SYSCALL msg=audit(100.%03d:%d): " % (i % 1000, i) + syscall_body(pid=i) + b"\n"
        for i in range(50)
    )
    assert fast_parse(block) == plain_parse(block)


def event_records(body: bytes, argv: list[bytes] | None, key: bytes = b"100.250:7") -> list[Record]:
    recs = [Record("SYSCALL", key, body)]
    recs += [Record("EXECVE", key, b) for b in execve_records(argv or [])] if argv is not None else []
    recs += [
        Record("CWD", key, b'cwd="/tmp"'),
        Record("PATH", key, b'item=0 name="/bin/ls" inode=1 nametype=NORMAL'),
        Record("PROCTITLE", key, b"proctitle=6C73002D6C"),
    ]
    return recs


def reordered(body: bytes) -> bytes:
    """The same fields in another order: not the kernel's, so the general path reads them."""
    fields = body.split(b" ")
    return b" ".join([fields[-1], *fields[:-1]])


@pytest.mark.parametrize(
    "body",
    [
        syscall_body(),
        syscall_body(success=False, exit_code=-2, comm=b"a b", exe=b"/x\xff", key=None),
        syscall_body(arch="40000003", syscall=11, auid=1000, tty="pts0", ses=3, key=b"a\x01b"),
        syscall_body(syscall=1),  # not an exec
        # undecodable or out of range: the short way hands them to the general path
        syscall_body(pid=2**32, ppid=2**64, uid=2**32 + 5, exit_code=2**63, ses=2**40),
        syscall_body(exit_code=-(2**63) - 1),
        syscall_body().replace(b"exe=", b"exe=41G2").replace(b"comm=", b"comm=7"),
        syscall_body().replace(b"success=yes", b"success=maybe").replace(b"key=", b"key=ZZ"),
        syscall_body(arch="c000003e0", syscall=2**31),
        syscall_body(syscall=1).replace(b"exe=", b"exe=0"),  # not an exec, whatever the rest says
    ],
)
def test_kernel_order_and_general_path_agree(body: bytes) -> None:
    assert KERNEL_HEAD_RE.match(body) is not None and KERNEL_HEAD_RE.match(reordered(body)) is None
    for argv in (None, [b"ls", b"-l", b"a b", b""], [b"x" * 9000]):
        diag_fast, diag_general = Diagnostics(), Diagnostics()
        fast = build_exec_event(event_records(body, argv), diag_fast)
        again = build_exec_event(event_records(body, argv), diag_fast)  # from the memos this time
        general = build_exec_event(event_records(reordered(body), argv), diag_general)
        assert fast == again == general
        assert diag_fast.counts == diag_general.counts + diag_general.counts


def test_bad_key_is_the_same_diagnostic_on_both_paths() -> None:
    for key in (b"100", b"100.250", b"x.250:7", b"100.250:x", b"100.1234:7"):
        reasons = []
        for body in (syscall_body(), reordered(syscall_body())):
            diag = Diagnostics()
            assert build_exec_event(event_records(body, [b"ls"], key), diag) is None
            reasons.append([(d.kind, d.reason) for d in diag.samples])
        assert reasons[0] == reasons[1]


def test_fast_constructor_builds_ordinary_frozen_events() -> None:
    values = [datetime(2026, 1, 1, tzinfo=UTC), 1, None, "x86_64", "execve", True, 0, *range(10), None, None]
    values += [None, "ls", "/bin/ls", "/", "/bin/ls", 1, (b"ls",), "procmon", "ls", False, None, ()]
    fast, plain = new_exec_event(*values), ExecEvent(*values)
    assert (
        type(fast) is ExecEvent and fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.pid = 2  # type: ignore[misc]
    assert dataclasses.replace(fast, pid=3).pid == 3


def test_fast_constructor_leaves_classes_it_cannot_build_alone() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    assert fast_constructor(WithFactory) is WithFactory
    assert fast_constructor(Checked) is Checked


def test_fast_constructor_fills_defaults() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithDefault:
        a: int
        b: int = 0
        c: tuple[int, ...] = ()

    new = fast_constructor(WithDefault)
    assert new is not WithDefault
    assert (
        new(1) == WithDefault(1)
        and new(1, 2) == WithDefault(1, 2)
        and new(1, c=(3,)) == WithDefault(1, 0, (3,))
    )
    assert type(new(1)) is WithDefault


@pytest.mark.parametrize(
    "time",
    [
        datetime(2026, 11, 25, 14, 40, 47, 506000, tzinfo=UTC),
        datetime(2026, 11, 25, 14, 40, 47, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 25, 14, 40, 47, 506000, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 11, 25, 14, 40, 47, 506000, tzinfo=timezone(timedelta(0))),
        datetime(2026, 11, 25, 14, 40, 47, 506000),
    ],
)
def test_format_time_is_isoformat_with_z(time: datetime) -> None:
    event = new_exec_event(time, *[None] * 30)  # type: ignore[arg-type]
    for _ in range(2):  # the second time from the memo
        assert format_time(event) == time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})*")


@given(st.binary(max_size=12) | st.text('0123456789abcdefABCDEFgx "()nul', max_size=12).map(str.encode))
def test_decode_value_hex_is_as_strict_as_the_regex(value: bytes) -> None:
    if len(value) >= 2 and value[0] == 0x22 and value[-1] == 0x22:
        expected: bytes | None = value[1:-1]
    elif value == b"(null)":
        expected = None
    elif _HEX.fullmatch(value):
        expected = bytes.fromhex(value.decode("ascii"))
    else:
        with pytest.raises(BadValue):
            decode_value(value)
        return
    assert decode_value(value) == expected


def test_memos_stay_bounded() -> None:
    cache: dict[bytes, int] = {}
    for n in range(3 * memo.MAX_ENTRIES):
        memo.remember(cache, b"%d" % n, n)
    memo.remember(cache, b"x" * (memo.MAX_KEY_BYTES + 1), 0)
    assert 0 < len(cache) <= memo.MAX_ENTRIES
    assert b"x" * (memo.MAX_KEY_BYTES + 1) not in cache
