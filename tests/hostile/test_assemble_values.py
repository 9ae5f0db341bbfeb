"""Logs others wrote or damaged, assembled: quoted numbers decode, an undecodable value is a counted
diagnostic and null in that field alone, argv short of what the kernel announced and exec records
whose SYSCALL line was removed give incomplete events. Real captured logs, edited line by line."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.support.context import NAME_FIELDS, STREAM_FIELDS, check_parents, without_stream_context
from tests.support.paths import DATA

LOG = DATA / "workload_enriched.log"
LOOKALIKES = b"1795618246.882:1058"  # argc=20, every argument quoted
LONG = b"1795618246.886:1059"  # one 20,000-byte argument in six hex chunks over six EXECVE records
SYSCALL_FIELDS = ("arch", "syscall", "success", "exit", "pid", "ppid", "uid", "euid", "suid", "fsuid",
                  "gid", "egid", "sgid", "fsgid", "auid", "ses", "tty", "comm", "exe", "key")  # fmt: skip
PYTHON_TEXT = ("Traceback", "Error", "invalid literal", "b'", "exception")


def lines() -> list[bytes]:
    return LOG.read_bytes().splitlines(keepends=True)


def read(path: Path) -> tuple[list[ExecEvent], Diagnostics]:
    diagnostics = Diagnostics()
    return list(read_exec_events([path], diagnostics)), diagnostics


def write(tmp_path: Path, edited: list[bytes]) -> Path:
    path = tmp_path / "edited.log"
    path.write_bytes(b"".join(edited))
    return path


def edit(key: bytes, rtype: bytes, change: object) -> list[bytes]:
    """The log with ``change(line)`` applied to the records of type ``rtype`` of event ``key``."""
    out = []
    for line in lines():
        if f"msg=audit({key.decode()})".encode() in line and line.startswith(b"type=" + rtype + b" "):
            line = change(line)  # type: ignore[operator]
        out.append(line)
    return out


def set_field(name: bytes, value: bytes) -> object:
    pattern = re.compile(rb"(?<= )" + re.escape(name) + rb"=[^ \x1d\n]*")
    return lambda line: pattern.sub(lambda _m: name + b"=" + value, line, count=1)


def original() -> tuple[list[ExecEvent], Diagnostics]:
    return read(LOG)


def index_of(events: list[ExecEvent], key: bytes) -> int:
    serial = int(key.rpartition(b":")[2])
    (index,) = [i for i, e in enumerate(events) if e.serial == serial]
    return index


def test_quoted_numbers_and_enums_decode_to_their_value(tmp_path: Path) -> None:
    names = rb"arch|syscall|success|exit|ppid|pid|auid|[ugs]id|e[ug]id|s[ug]id|fs[ug]id|tty|ses"
    quote = re.compile(rb"(?<= )(" + names + rb')=([^ "\x1d]+)')
    edited = edit(
        LOOKALIKES, b"SYSCALL", lambda line: quote.sub(rb'\1="\2"', line.partition(b"\x1d")[0]) + b"\n"
    )
    assert b'success="yes" exit="0"' in b"".join(edited) and b'tty="(none)" ses="4294967295"' in b"".join(
        edited
    )
    before, diag_before = original()
    after, diag_after = read(write(tmp_path, edited))
    at = index_of(after, LOOKALIKES)
    no_names: dict[str, Any] = dict.fromkeys(NAME_FIELDS)
    unnamed = dataclasses.replace(before[at], **no_names)  # its ENRICHED part was cut
    assert after == [*before[:at], unnamed, *before[at + 1 :]] and diag_after.counts == diag_before.counts
    event = after[at]
    assert (event.success, event.exit, event.tty, event.ses, event.auid, event.arch) == (
        True,
        0,
        None,
        None,
        None,
        "x86_64",
    )


DAMAGE = [  # record type, field, damaged value, the event's fields that become None
    (b"SYSCALL", b"exe", b"41G2", ["exe"]),
    (b"SYSCALL", b"comm", b"747", ["comm"]),
    (b"SYSCALL", b"key", b'"procmon', ["key"]),
    (b"SYSCALL", b"pid", b"12x", ["pid"]),
    (b"SYSCALL", b"pid", b"4294967296", ["pid"]),
    (b"SYSCALL", b"ppid", b"99999999999999999999999", ["ppid"]),
    (b"SYSCALL", b"uid", b"-1", ["uid"]),
    (b"SYSCALL", b"fsgid", b"0x10", ["fsgid"]),
    (b"SYSCALL", b"exit", b"9223372036854775808", ["exit"]),
    (b"SYSCALL", b"success", b"maybe", ["success"]),
    (b"SYSCALL", b"ses", b"-5", ["ses"]),
    (b"SYSCALL", b"arch", b"zz", ["arch", "syscall"]),
    (b"SYSCALL", b"syscall", b"1e3", ["syscall"]),
    (b"CWD", b"cwd", b"2F746D70G", ["cwd"]),
    (b"PATH", b"name", b"ABC", ["path"]),
    (b"PROCTITLE", b"proctitle", b"2F7573XY", ["proctitle"]),
    (b"EXECVE", b"a3", b"4G", ["argv"]),
]


@pytest.mark.parametrize(("rtype", "name", "value", "nulls"), DAMAGE, ids=lambda v: str(v))
def test_an_undecodable_value_is_null_and_counted(
    tmp_path: Path, rtype: bytes, name: bytes, value: bytes, nulls: list[str]
) -> None:
    before, diag_before = original()
    after, diag_after = read(write(tmp_path, edit(LOOKALIKES, rtype, set_field(name, value))))
    at = index_of(before, LOOKALIKES)
    nones: dict[str, Any] = dict.fromkeys(nulls)
    expected = dataclasses.replace(before[at], **nones, incomplete=nulls == ["argv"])
    # a pid or ppid lost is a parent link lost (of this event, or of its children): the rest is the same
    assert without_stream_context(after[at]) == without_stream_context(expected)
    assert [without_stream_context(e) for e in after[:at] + after[at + 1 :]] == [
        without_stream_context(e) for e in before[:at] + before[at + 1 :]
    ]
    check_parents(after)
    if not {"pid", "ppid"} & set(nulls):
        assert after == [*before[:at], expected, *before[at + 1 :]]
    assert diag_after.counts - diag_before.counts == {"bad-value": 1}
    (sample,) = [d for d in diag_after.samples if d.kind == "bad-value"]
    assert "1795618246.882:1058" in sample.reason and name.decode() in sample.reason
    assert not any(text in sample.reason for text in PYTHON_TEXT), sample.reason


def test_review_shows_the_event_with_the_damaged_field_null(tmp_path: Path) -> None:
    log = write(tmp_path, edit(LOOKALIKES, b"SYSCALL", set_field(b"exe", b"2F7573722G")))
    proc = subprocess.run(
        [sys.executable, "-m", "exectrail.cli.main", "review", "--format", "jsonl", "-v", str(log)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    (event,) = [e for e in events if e.get("type") == "exec" and e["serial"] == 1058]
    assert event["exe"] is None and event["comm"] == "true" and len(event["argv"]) == 20
    assert "1 bad-value" in proc.stderr and "Traceback" not in proc.stderr
    assert "2F7573722G is neither quoted text nor hex" in proc.stderr


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (lambda ls: edit(LONG, b"EXECVE", set_field(b"a1_len", b"40002")), "argv-length-mismatch"),
        (
            lambda ls: [line for line in ls if not (LONG in line and b"a1[5]=" in line)],
            "argv-length-mismatch",
        ),
        (lambda ls: [line for line in ls if not (LONG in line and b"a1[2]=" in line)], "argv-chunk-missing"),
        (lambda ls: edit(LONG, b"EXECVE", set_field(b"argc", b"3")), "argc-mismatch"),
        (lambda ls: edit(LONG, b"EXECVE", set_field(b"argc", b"1")), "argc-mismatch"),
    ],
)
def test_argv_short_of_what_the_kernel_announced_is_incomplete(
    tmp_path: Path, change: object, kind: str
) -> None:
    before, diag_before = original()
    after, diag_after = read(write(tmp_path, change(lines())))  # type: ignore[operator]
    at = index_of(before, LONG)
    known = before[at]
    assert known.argv is not None and len(known.argv[1]) == 20000 and not known.incomplete
    event = after[at]
    assert event.incomplete and event.argv is not None and event.argv[0] == b"/usr/bin/true"
    assert (
        dataclasses.replace(event, argc=before[at].argc, argv=before[at].argv, incomplete=False) == before[at]
    )
    assert kind in diag_after.counts - diag_before.counts
    assert sum(e.incomplete for e in after) == 1


def test_exec_records_whose_syscall_line_was_removed_still_give_the_event(tmp_path: Path) -> None:
    before, diag_before = original()
    removed = [line for line in lines() if not (b"type=SYSCALL " in line and LOOKALIKES in line)]
    after, diag_after = read(write(tmp_path, removed))
    at = index_of(before, LOOKALIKES)
    known = before[at]
    assert [without_stream_context(e) for e in after[:at] + after[at + 1 :]] == [
        without_stream_context(e) for e in before[:at] + before[at + 1 :]
    ]
    check_parents(after)
    event = after[at]
    # who ran it is unknown: ids, their names (the ENRICHED part went with the line) and the parent
    nones: dict[str, Any] = dict.fromkeys((*SYSCALL_FIELDS, *NAME_FIELDS, *STREAM_FIELDS))
    assert event == dataclasses.replace(known, **nones, incomplete=True)
    assert (event.argv, event.cwd, event.path, event.proctitle) == (
        known.argv,
        known.cwd,
        known.path,
        known.proctitle,
    )
    assert len(event.argv or ()) == 20 and event.time == known.time and event.serial == known.serial
    assert diag_after.counts - diag_before.counts == {"execve-without-syscall": 1}


def test_an_event_that_lost_its_proctitle_is_kept_and_incomplete(tmp_path: Path) -> None:
    before, _ = original()
    removed = [line for line in lines() if not (b"type=PROCTITLE " in line and LOOKALIKES in line)]
    after, _ = read(write(tmp_path, removed))
    event = next(e for e in after if e.serial == 1058)
    assert event == dataclasses.replace(before[index_of(before, LOOKALIKES)], proctitle=None, incomplete=True)
    assert sorted(after, key=lambda e: e.serial) == sorted(
        [dataclasses.replace(e, proctitle=None, incomplete=True) if e.serial == 1058 else e for e in before],
        key=lambda e: e.serial,
    )


def test_review_shows_the_exec_whose_syscall_line_was_removed(tmp_path: Path) -> None:
    removed = [line for line in lines() if not (b"type=SYSCALL " in line and LOOKALIKES in line)]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exectrail.cli.main",
            "review",
            "--format",
            "jsonl",
            str(write(tmp_path, removed)),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (event,) = [e for e in map(json.loads, proc.stdout.splitlines()) if e.get("serial") == 1058]
    assert event["incomplete"] is True and event["pid"] is None and event["comm"] is None
    assert event["argv"][:3] == ["/usr/bin/true", "a=b", "key=procmon"] and event["cwd"].endswith("/w")
    assert "1 execve-without-syscall" in proc.stderr and "Traceback" not in proc.stderr
