"""Baseline for bench/review.py: decode every exec event's argv with python3-audit's auparse (C).

Run with the system interpreter that has the binding: ``/usr/bin/python3 bench/auparse_argv.py LOG``.
Iterates every event of the log; for execve/execveat SYSCALL events (x86_64 and i386) it rebuilds
argv from the EXECVE records using auparse's raw field access (quoted or hex values, ``aN[k]``
chunks) and prints one summary line of counts as JSON.
"""

from __future__ import annotations

import json
import sys

import auparse  # type: ignore[import-not-found]

EXEC_SYSCALLS = {("c000003e", "59"), ("c000003e", "322"), ("40000003", "11"), ("40000003", "358")}


def decode(raw: str) -> bytes:
    """A raw EXECVE value: ``"text"`` (printable) or uppercase hex of the bytes."""
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return raw[1:-1].encode("latin-1")
    if raw == "(null)":
        return b""
    try:
        return bytes.fromhex(raw)
    except ValueError:
        return raw.encode("latin-1", "replace")


def argv_of(parser: auparse.AuParser) -> list[bytes]:
    """argv from the EXECVE records of the current event."""
    args: dict[int, bytes] = {}
    chunks: dict[int, list[bytes]] = {}
    parser.first_record()
    while True:
        if parser.get_type_name() == "EXECVE":
            parser.first_field()
            while True:
                name = parser.get_field_name()
                if name.startswith("a") and name != "argc" and not name.endswith("_len"):
                    value = decode(parser.get_field_str())
                    if name.endswith("]"):
                        chunks.setdefault(int(name[1 : name.index("[")]), []).append(value)
                    else:
                        args[int(name[1:])] = value
                if not parser.next_field():
                    break
        if not parser.next_record():
            break
    for index, parts in chunks.items():
        args[index] = b"".join(parts)
    return [args[i] for i in sorted(args)]


def main(path: str) -> int:
    parser = auparse.AuParser(auparse.AUSOURCE_FILE, path)
    events = execs = failed = args = arg_bytes = 0
    while parser.parse_next_event():
        events += 1
        parser.first_record()
        if parser.get_type_name() != "SYSCALL" and not _goto_syscall(parser):
            continue
        arch = parser.find_field("arch")
        syscall = parser.find_field("syscall") if arch else None
        if (arch, syscall) not in EXEC_SYSCALLS:
            continue
        execs += 1
        if parser.find_field("success") != "yes":
            failed += 1
            continue
        argv = argv_of(parser)
        args += len(argv)
        arg_bytes += sum(len(a) for a in argv)
    result = {"events": events, "exec_events": execs, "failed": failed, "args": args, "arg_bytes": arg_bytes}
    print(json.dumps(result))
    return 0


def _goto_syscall(parser: auparse.AuParser) -> bool:
    while parser.next_record():
        if parser.get_type_name() == "SYSCALL":
            return True
    return False


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 bench/auparse_argv.py LOG")
    sys.exit(main(sys.argv[1]))
