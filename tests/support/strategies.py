"""Hypothesis strategies for exec events (any bytes in text fields and argv)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from exectrail.enrich.fileless import FLAGS
from exectrail.model import ExecEvent
from exectrail.timefmt import timestamp_to_datetime

ids = st.integers(min_value=0, max_value=2**32 - 2)
texts = st.one_of(st.none(), st.binary(max_size=24).map(lambda b: b.decode("utf-8", "surrogateescape")))
argvs = st.one_of(st.none(), st.lists(st.binary(max_size=16), max_size=6).map(tuple))
#: ``fileless`` values: flags of :data:`~exectrail.enrich.fileless.FLAGS`, in that order, each at most once.
flag_lists = st.sets(st.sampled_from(FLAGS)).map(lambda chosen: tuple(f for f in FLAGS if f in chosen))
times = st.builds(
    timestamp_to_datetime, st.integers(min_value=1_500_000_000, max_value=1_900_000_000), st.integers(0, 999)
)


@st.composite
def exec_events(draw: st.DrawFn, time: datetime | None = None) -> ExecEvent:
    argv = draw(argvs)
    return ExecEvent(
        time=time if time is not None else draw(times),
        serial=draw(st.integers(min_value=0, max_value=2**40)),
        node=draw(st.sampled_from([None, "host-a", "höst-b"])),
        arch=draw(st.sampled_from(["x86_64", "i386", "aarch64"])),
        syscall=draw(st.sampled_from(["execve", "execveat"])),
        success=argv is not None,
        exit=0 if argv is not None else -draw(st.sampled_from([2, 13, 8])),
        pid=draw(ids), ppid=draw(ids), uid=draw(ids), euid=draw(ids), suid=draw(ids), fsuid=draw(ids),
        gid=draw(ids), egid=draw(ids), sgid=draw(ids), fsgid=draw(ids),
        auid=draw(st.one_of(st.none(), ids)), ses=draw(st.one_of(st.none(), ids)),
        tty=draw(texts), comm=draw(texts), exe=draw(texts), cwd=draw(texts), path=draw(texts),
        argc=None if argv is None else len(argv), argv=argv, key=draw(texts), proctitle=draw(texts),
        incomplete=draw(st.booleans()), script=draw(texts), fileless=draw(flag_lists),
        **draw(contexts()),
    )  # fmt: skip


hex32 = st.one_of(st.none(), st.binary(min_size=16, max_size=16).map(bytes.hex))
names = st.one_of(st.none(), st.sampled_from(["exec", "gone", "late", "proc", "inherited", "auditd", "nss"]))


@st.composite
def json_objects(draw: st.DrawFn) -> dict[str, Any] | None:
    """An OBJECT field's value: None, or a JSON object (any text, as its JSON form gives it)."""
    if draw(st.booleans()):
        return None
    text = st.one_of(st.none(), st.text(max_size=12))
    value = st.one_of(text, st.integers(-(2**63), 2**63 - 1), st.lists(text, max_size=3))
    return draw(st.dictionaries(st.text(max_size=8), value, max_size=5))


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    """The context fields of an exec event (issue 14), any of them unset."""
    return {
        "exec_id": draw(hex32), "parent_exec_id": draw(hex32), "parent": draw(json_objects()),
        "uid_name": draw(texts), "euid_name": draw(texts), "auid_name": draw(texts), "gid_name": draw(texts),
        "names_source": draw(names), "cgroup": draw(texts), "systemd_unit": draw(texts),
        "container_id": draw(hex32), "container_runtime": draw(names), "cgroup_source": draw(names),
        "exe_hash": draw(json_objects()), "exe_hash_missing": draw(names), "env": draw(json_objects()),
        "env_missing": draw(names),
    }  # fmt: skip


def distinct(events: list[ExecEvent]) -> list[ExecEvent]:
    """``events`` without repeated identities (node, time, serial), first kept."""
    seen: set[str] = set()
    out = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.append(event)
    return out


def replicate(events: list[ExecEvent], copies: int, shift: timedelta = timedelta(hours=1)) -> list[ExecEvent]:
    """``copies`` rounds of ``events``, each shifted in time (and serial) so identities stay distinct."""
    return [
        replace(e, time=e.time + shift * i, serial=e.serial + i * 10_000_000)
        for i in range(copies)
        for e in events
    ]


def _bounded(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in [low, high], the bounds and their neighbours often."""
    edges = sorted({low, low + 1, 0 if low <= 0 <= high else low, high - 1, high})
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


#: The ranges the decoder lets through (lane ASSEMBLE/DECODE bounds): anything else is a diagnostic.
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
U32 = _bounded(0, 2**32 - 1)
extreme_times = st.builds(timestamp_to_datetime, _bounded(0, MAX_SECONDS), _bounded(0, 999))


@st.composite
def extreme_events(draw: st.DrawFn) -> ExecEvent:
    """Exec events with every value at or near the edge of what the decoder accepts, and any field
    that may be unknown (None) sometimes None."""

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.none(), strategy))

    argv = draw(argvs)
    # named, not *ids: mypy cannot count the items of a starred list
    pid, ppid, uid, euid, suid, fsuid, gid, egid, sgid, fsgid = [maybe(U32) for _ in range(10)]
    return ExecEvent(
        draw(extreme_times), draw(_bounded(0, 2**63 - 1)), draw(texts),
        maybe(st.sampled_from(["x86_64", "i386", "0xdeadbeef"])),
        maybe(st.sampled_from(["execve", "execveat"])),
        maybe(st.booleans()), maybe(_bounded(-(2**63), 2**63 - 1)),
        pid, ppid, uid, euid, suid, fsuid, gid, egid, sgid, fsgid,
        maybe(_bounded(0, 2**32 - 2)), maybe(_bounded(0, 2**32 - 2)),
        draw(texts), draw(texts), draw(texts), draw(texts), draw(texts),
        maybe(_bounded(0, 2**31 - 1)), argv, draw(texts), draw(texts), draw(st.booleans()),
        draw(texts), draw(flag_lists), **draw(contexts()),
    )  # fmt: skip
