"""Compare what exectrail decoded from a captured log with the workload manifest, byte for byte.

Each manifest case names the pid the runner forked (and the runner as its ppid) and the exec
events that pid produced, in order. Both the Python API (:class:`ExecEvent`) and the CLI's JSONL
objects are checked against it; every function returns a list of human-readable mismatches.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exectrail.model import ExecEvent

PROCMON_KEY = "procmon"
_HEADER = re.compile(rb"msg=audit\((\d+\.\d+:\d+)\)")
_JSON_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of a file, decompressed when its name ends in .gz."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def load_manifest(path: Path) -> dict[str, Any]:
    """A workload manifest (``.manifest.json`` or ``.manifest.json.gz``)."""
    manifest: dict[str, Any] = json.loads(read_maybe_gzip(path))
    return manifest


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _preview(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def group_events(events: Iterable[ExecEvent]) -> dict[tuple[int | None, int | None], list[ExecEvent]]:
    """Exec events by (pid, ppid) (None where unknown), each list in (time, serial) order."""
    by_process: dict[tuple[int | None, int | None], list[ExecEvent]] = defaultdict(list)
    for event in events:
        by_process[(event.pid, event.ppid)].append(event)
    for items in by_process.values():
        items.sort(key=lambda e: (e.time, e.serial))
    return by_process


def _argv_mismatch(expected: list[bytes], got: tuple[bytes, ...]) -> str:
    if len(expected) != len(got):
        return f"argv has {len(got)} arguments, expected {len(expected)}"
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want != have:
            return f"argv[{index}] is {_preview(have)}, expected {_preview(want)}"
    return ""


def compare_event(want: dict[str, Any], got: ExecEvent, manifest: dict[str, Any]) -> list[str]:
    """Mismatches between one expected event of the manifest and one decoded :class:`ExecEvent`."""
    problems = []
    scalars = {
        "syscall": (want["syscall"], got.syscall),
        "arch": (want["arch"], got.arch),
        "success": (want["success"], got.success),
        "exit": (want["exit"], got.exit),
        "argc": (want["argc"], got.argc),
        "key": (PROCMON_KEY, got.key),
        "node": (manifest.get("node"), got.node),
        "uid": (manifest["uid"], got.uid),
        "euid": (manifest["uid"], got.euid),
        "gid": (manifest["gid"], got.gid),
    }
    texts = {
        "path": (_hex(want["path_hex"]), _bytes(got.path)),
        "cwd": (_hex(want["cwd_hex"]), _bytes(got.cwd)),
        "exe": (_hex(want["exe_hex"]), _bytes(got.exe)),
        "comm": (_hex(want["comm_hex"]), _bytes(got.comm)),
    }
    for name, (expected, actual) in scalars.items():
        if expected != actual:
            problems.append(f"{name} is {actual!r}, expected {expected!r}")
    for name, (expected_bytes, actual_bytes) in texts.items():
        if expected_bytes is not None and expected_bytes != actual_bytes:
            problems.append(f"{name} is {_preview(actual_bytes)}, expected {_preview(expected_bytes)}")
    if want["argv_hex"] is None:
        if got.argv is not None:
            problems.append(f"argv is {_preview(got.argv)}, expected None (failed exec)")
    elif got.argv is None:
        problems.append("argv is None, expected an argv")
    else:
        mismatch = _argv_mismatch([bytes.fromhex(a) for a in want["argv_hex"]], got.argv)
        if mismatch:
            problems.append(mismatch)
    return problems


def compare_case(case: dict[str, Any], got: list[ExecEvent], manifest: dict[str, Any]) -> list[str]:
    """Mismatches for one case: the pid's events, in order, against the manifest's."""
    expected = case["events"]
    if len(got) != len(expected):
        seen = [(e.syscall, e.success, e.path) for e in got]
        return [
            f"{case['name']}: {len(got)} exec events for pid {case['pid']}, expected {len(expected)}: {seen}"
        ]
    problems = []
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        for problem in compare_event(want, have, manifest):
            problems.append(f"{case['name']} event {index} (serial {have.serial}): {problem}")
    return problems


def compare_all(manifest: dict[str, Any], events: Iterable[ExecEvent]) -> list[str]:
    """Mismatches for every case of the manifest."""
    by_process = group_events(events)
    problems = []
    for case in manifest["cases"]:
        problems += compare_case(case, by_process.get((case["pid"], case["ppid"]), []), manifest)
    return problems


# -- JSONL (the CLI's documented schema) -------------------------------------------------------------


def _lossy(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def compare_json_event(want: dict[str, Any], got: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """Mismatches between an expected event and one ``review --format jsonl`` object."""
    problems = []
    expected: dict[str, Any] = {
        "syscall": want["syscall"],
        "arch": want["arch"],
        "success": want["success"],
        "exit": want["exit"],
        "argc": want["argc"],
        "key": PROCMON_KEY,
        "node": manifest.get("node"),
        "uid": manifest["uid"],
        "gid": manifest["gid"],
        "path": _lossy(_hex(want["path_hex"])),
        "cwd": _lossy(_hex(want["cwd_hex"])),
    }
    for name in ("exe", "comm"):
        if want[f"{name}_hex"] is not None:
            expected[name] = _lossy(_hex(want[f"{name}_hex"]))
    argv = None if want["argv_hex"] is None else [bytes.fromhex(a) for a in want["argv_hex"]]
    expected["argv"] = None if argv is None else [a.decode("utf-8", "replace") for a in argv]
    for name, value in expected.items():
        if got.get(name, "<missing>") != value:
            problems.append(f"{name} is {_preview(got.get(name, '<missing>'))}, expected {_preview(value)}")
    needs_hex = argv is not None and any(_not_utf8(a) for a in argv)
    if needs_hex:
        got_hex = [h.lower() for h in got.get("argv_hex") or []]
        if got_hex != [a.hex() for a in argv or []]:
            problems.append(f"argv_hex is {_preview(got.get('argv_hex'))}, expected the raw bytes as hex")
    elif "argv_hex" in got:
        problems.append("argv_hex present although every argument is valid UTF-8")
    if not _JSON_TIME.match(str(got.get("time"))):
        problems.append(f"time {got.get('time')!r} is not UTC ISO 8601 with milliseconds")
    return problems


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def compare_all_json(manifest: dict[str, Any], objects: Iterable[dict[str, Any]]) -> list[str]:
    """Mismatches for every case of the manifest against the CLI's JSON objects."""
    by_process: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        by_process[(obj["pid"], obj["ppid"])].append(obj)
    problems = []
    for case in manifest["cases"]:
        got = sorted(by_process.get((case["pid"], case["ppid"]), []), key=lambda o: (o["time"], o["serial"]))
        if len(got) != len(case["events"]):
            problems.append(f"{case['name']}: {len(got)} JSON events, expected {len(case['events'])}")
            continue
        for index, (want, have) in enumerate(zip(case["events"], got, strict=True)):
            for problem in compare_json_event(want, have, manifest):
                problems.append(f"{case['name']} event {index} (serial {have.get('serial')}): {problem}")
    return problems


# -- raw log facts, independent of exectrail's parser ---------------------------------------------


def interleaved_events(log: bytes) -> int:
    """How many events have their records split by records of another event (by line position)."""
    positions: dict[bytes, list[int]] = defaultdict(list)
    for index, line in enumerate(log.splitlines()):
        match = _HEADER.search(line[:200])
        if match:
            positions[match.group(1)].append(index)
    return sum(1 for lines in positions.values() if lines[-1] - lines[0] + 1 != len(lines))


def serial_decreases(log: bytes) -> int:
    """How many times the serial goes down from one record to the next."""
    count, previous = 0, -1
    for line in log.splitlines():
        match = _HEADER.search(line[:200])
        if match and b"type=DAEMON_" not in line[:40]:  # auditd's own records have its own serials
            serial = int(match.group(1).rpartition(b":")[2])
            count += serial < previous
            previous = serial
    return count
