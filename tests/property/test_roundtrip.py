"""Property tests: argv survives the kernel's encoding exactly, and damage never raises."""

from __future__ import annotations

import contextlib
import io
import random
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail.model import Diagnostics
from exectrail.parse.fields import decode_value, encode_value
from exectrail.parse.logfile import read_records
from exectrail.parse.record import MalformedRecord, parse_line
from exectrail.pipeline import exec_events
from tests.support.kernel_format import log_lines
from tests.support.paths import DATA

# argv strings cannot hold NUL (C strings); anything else goes.
arg_bytes = st.binary(max_size=64).map(lambda b: b.replace(b"\0", b""))
long_arg = st.integers(min_value=3700, max_value=12000).map(lambda n: bytes(range(1, 256)) * (n // 255 + 1))
argvs = st.lists(st.one_of(arg_bytes, arg_bytes, arg_bytes, long_arg), min_size=1, max_size=40)


@given(st.binary().map(lambda b: b.replace(b"\0", b"")))
def test_value_encoding_round_trips(raw: bytes) -> None:
    assert decode_value(encode_value(raw)) == raw


@given(argvs, st.booleans())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_argv_round_trips_through_kernel_format(argv: list[bytes], enriched: bool) -> None:
    lines = log_lines("1795617647.510", 42, argv, enriched=enriched)
    diag = Diagnostics()
    events = list(exec_events((parse_line(line) for line in lines), diag))
    assert len(events) == 1
    assert events[0].argv == tuple(argv)
    assert events[0].argc == len(argv)
    assert diag.total == 0


def _real_log() -> bytes:
    logs = sorted(DATA.glob("*.log"))
    if logs:
        return logs[0].read_bytes()[:200_000]
    return b"".join(
        line for i in range(30) for line in log_lines(f"1795617647.{i:03d}", i, [b"ls", b"-l", b"a b"])
    )


REAL = _real_log()


@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=60))
@settings(max_examples=120, deadline=None)
def test_random_corruption_of_a_real_log_never_raises(rng: random.Random, hits: int) -> None:
    data = bytearray(REAL)
    for _ in range(hits):
        pos = rng.randrange(len(data))
        action = rng.randrange(4)
        if action == 0:
            data[pos] = rng.randrange(256)
        elif action == 1:
            del data[pos : pos + rng.randrange(1, 200)]
        elif action == 2:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 50)))
        else:
            data[pos:pos] = data[rng.randrange(len(data)) :][: rng.randrange(1, 400)]
    diag = Diagnostics()
    for line in io.BytesIO(bytes(data)):
        with contextlib.suppress(MalformedRecord):
            parse_line(line)
    with tempfile.NamedTemporaryFile(suffix=".log") as handle:
        handle.write(bytes(data))
        handle.flush()
        events = list(exec_events(read_records([handle.name], diag), diag))
    # pid and syscall are null in an event whose SYSCALL record was lost to the damage
    assert all((e.pid is None or e.pid >= 0) and e.syscall in ("execve", "execveat", None) for e in events)


@given(
    st.lists(st.lists(arg_bytes, min_size=1, max_size=6), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
@settings(max_examples=100)
def test_any_interleaving_of_concurrent_events_is_reassembled(
    argvs: list[list[bytes]], rng: random.Random
) -> None:
    """Records of concurrent events interleave (each event's own order kept) and serials may go down."""
    serials = rng.sample(range(1, 10_000), len(argvs))
    streams = [
        [parse_line(line) for line in log_lines("1795617647.510", serial, argv, pid=serial)]
        for serial, argv in zip(serials, argvs, strict=True)
    ]
    mixed = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        mixed.append(stream.pop(0))
    diag = Diagnostics()
    events = list(exec_events(mixed, diag))
    assert sorted((e.pid, e.argv) for e in events) == sorted(
        (serial, tuple(argv)) for serial, argv in zip(serials, argvs, strict=True)
    )
    assert diag.total == 0
