"""Several nodes in one log (a central collector): events of different hosts that share a time and
a serial are separate events, each exactly what its own host's log gives."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.support.paths import DATA

_KEY = re.compile(rb"msg=audit\((\d+\.\d{3}:\d+)\)")


def read(path: Path) -> list[ExecEvent]:
    diagnostics = Diagnostics()
    events = list(read_exec_events([path], diagnostics))
    assert diagnostics.total == 0
    return events


def other_host(lines: list[bytes], node: bytes) -> list[bytes]:
    """The same log as another host would have it: every event takes the key of the event after it
    (so one time and serial stands for different commands on the two hosts), under ``node``."""
    keys = list(dict.fromkeys(m[1] for line in lines if (m := _KEY.search(line)) is not None))
    shifted = dict(zip(keys, keys[1:] + keys[:1], strict=True))
    out = []
    for line in lines:
        line = line.replace(b"node=exectrail-test ", b"node=" + node + b" ", 1)
        out.append(_KEY.sub(lambda m: b"msg=audit(" + shifted[m[1]] + b")", line, count=1))
    return out


def test_nodes_sharing_time_and_serial_give_separate_correct_events(tmp_path: Path) -> None:
    mine = gzip.decompress((DATA / "workload_raw_node.log.gz").read_bytes()).splitlines(keepends=True)
    theirs = other_host(mine, b"web-2")
    (tmp_path / "mine.log").write_bytes(b"".join(mine))
    (tmp_path / "theirs.log").write_bytes(b"".join(theirs))
    mixed = [line for pair in zip(mine, theirs, strict=True) for line in pair]  # line by line
    (tmp_path / "mixed.log").write_bytes(b"".join(mixed))

    expected_mine, expected_theirs = read(tmp_path / "mine.log"), read(tmp_path / "theirs.log")
    got = read(tmp_path / "mixed.log")

    def key(e: ExecEvent) -> tuple[str, int, float]:
        return (e.node or "", e.serial, e.time.timestamp())

    assert len(expected_mine) > 200 and {e.node for e in expected_theirs} == {"web-2"}
    shared = {(e.serial, e.time) for e in expected_mine} & {(e.serial, e.time) for e in expected_theirs}
    assert len(shared) > 200  # the same time and serial on both hosts, for different commands
    assert sorted(got, key=key) == sorted(expected_mine + expected_theirs, key=key)
    assert not any(e.incomplete for e in got)
