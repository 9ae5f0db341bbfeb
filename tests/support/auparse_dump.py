"""Exec events of audit logs as python3-audit's auparse reads them, one JSON line per event.

Run by an interpreter that has the binding (Debian's ``/usr/bin/python3`` with python3-audit):
``python3 auparse_dump.py LOG...``. Each line: ``{"file", "node", "sec", "ms", "serial", "arch",
"syscall", "success", "exit", "pid", "ppid", "uid", "comm", "exe", "cwd", "argv"}`` with the raw
values auparse hands out (``get_field_str``), quoted-or-hex text as hex of its bytes, so the test
compares bytes. Which events are execs is auparse's call (its interpretation of ``syscall`` for the
record's arch). Standalone: imports nothing of exectrail (auparse may be for another Python).
"""

from __future__ import annotations

import json
import sys

import auparse  # type: ignore[import-not-found]


def decode(raw: str | None) -> str | None:
    """A raw quoted-or-hex value as hex of its bytes (None when absent or ``(null)``)."""
    if raw is None or raw == "(null)":
        return None
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1].encode("utf-8", "surrogateescape").hex()
    try:
        return bytes.fromhex(raw).hex()
    except ValueError:
        return "!" + raw  # neither form: marked, so a comparison shows it


def fields(parser: auparse.AuParser, names: dict[str, str] | None = None) -> dict[str, str]:
    """Raw fields of the current record (first occurrence of each name); with ``names``, also
    auparse's interpretation of ``syscall`` (its own table: execve on any arch)."""
    out: dict[str, str] = {}
    parser.first_field()
    while True:
        try:
            name = parser.get_field_name()
            if name is not None and name not in out:
                out[name] = parser.get_field_str()
                if names is not None and name == "syscall":
                    names[name] = parser.interpret_field()
        except RuntimeError:  # auparse: "'field str' is NULL" for a field without a value
            pass
        if not parser.next_field():
            return out


def event(parser: auparse.AuParser, path: str) -> dict[str, object] | None:
    """The exec event at the parser's position, or None for another kind of event."""
    records: dict[str, list[dict[str, str]]] = {}
    names: dict[str, str] = {}
    parser.first_record()
    while True:
        try:
            type_name = parser.get_type_name() or "?"
        except LookupError:  # auparse: "Not found" for a record type it cannot name
            type_name = "?"
        records.setdefault(type_name, []).append(fields(parser, names if type_name == "SYSCALL" else None))
        if not parser.next_record():
            break
    syscalls = records.get("SYSCALL")
    syscall = syscalls[0] if syscalls else None
    if syscall is None:
        return None
    name = names.get("syscall")
    if name not in ("execve", "execveat"):
        return None
    stamp = parser.get_timestamp()
    return {
        "file": path,
        "node": stamp.host,
        "sec": stamp.sec,
        "ms": stamp.milli,
        "serial": stamp.serial,
        "syscall": name,
        "success": syscall.get("success"),
        "exit": syscall.get("exit"),
        "pid": syscall.get("pid"),
        "ppid": syscall.get("ppid"),
        "uid": syscall.get("uid"),
        "comm": decode(syscall.get("comm")),
        "exe": decode(syscall.get("exe")),
        "cwd": decode((records.get("CWD") or [{}])[0].get("cwd")),
        "argv": argv(records.get("EXECVE")),
    }


def argv(execve: list[dict[str, str]] | None) -> list[str] | None:
    """argv as hex strings from the EXECVE records' ``aN`` / ``aN[k]`` fields (None: no EXECVE)."""
    if not execve:
        return None
    args: dict[int, str] = {}
    chunks: dict[int, dict[int, str]] = {}
    for record in execve:
        for name, raw in record.items():
            if not name.startswith("a") or name == "argc" or name.endswith("_len"):
                continue
            value = decode(raw) or ""
            try:
                if name.endswith("]"):
                    index, part = name[1:-1].split("[")
                    chunks.setdefault(int(index), {})[int(part)] = value
                else:
                    args[int(name[1:])] = value
            except ValueError:
                continue
    for position, parts in chunks.items():
        args[position] = "".join(parts[k] for k in sorted(parts))
    return [args[i] for i in sorted(args)]


def main(paths: list[str]) -> int:
    for path in paths:
        try:
            parser = auparse.AuParser(auparse.AUSOURCE_FILE, path)
        except OSError as exc:
            print(json.dumps({"file": path, "error": str(exc)}))
            continue
        while parser.parse_next_event():
            found = event(parser, path)
            if found is not None:
                print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
