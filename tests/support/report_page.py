"""Material for the case report page tests: reports made by the CLI, what ``review`` and ``alarms`` say
about the same logs, and real logs edited the way auditd would have written hostile arguments.

An EXECVE argument that holds a space, a quote or a byte outside 0x21-0x7e is logged as uppercase hex
(docs: /work/shared/DESIGN.md, "EXECVE"), so :func:`set_argument` writes every argument that way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support import logedit as ed
from tests.support.cli import run_cli

IMG = "<img src=x onerror=\"document.title='pwned'\">"
SCRIPT = "</script><script>document.title='pwned'</script>"
NOT_UTF8 = b"\xff\xfe"
#: a newline, an escape sequence and a right-to-left override: shown as \n, \x1b, \u{202e}
CONTROLS = "line\nbreak\x1b[31mred\u202eevil"


def make_report(out: Path, logs: list[Path], *options: str) -> Path:
    """``exectrail report --html OUT [OPTIONS] LOG...``; the file it wrote."""
    result = run_cli(["report", "--html", str(out), *options, *map(str, logs)])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert out.is_file()
    return out


def jsonl(*args: str, ok: tuple[int, ...] = (0,)) -> list[dict[str, Any]]:
    """The objects an ``exectrail ARGS... --format jsonl`` run prints (its exit status one of ``ok``)."""
    result = run_cli([*args, "--format", "jsonl"])
    assert result.exit_code in ok, (result.exit_code, result.stdout, result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def reviewed(logs: list[Path]) -> list[dict[str, Any]]:
    """The exec events ``exectrail review`` shows for ``logs`` (its alarm lines left out)."""
    return [o for o in jsonl("review", *map(str, logs)) if o["type"] == "exec"]


def alarmed(logs: list[Path]) -> list[dict[str, Any]]:
    """What ``exectrail alarms`` finds in ``logs`` (exit status 3: alarms found)."""
    return jsonl("alarms", *map(str, logs), ok=(0, 3))


def set_argument(lines: list[bytes], serial: int, index: int, raw: bytes) -> list[bytes]:
    """Event ``serial``'s EXECVE argument ``aINDEX`` replaced by ``raw``, written as auditd's hex."""
    token = re.compile(rb" a%d=(\"[^\"]*\"|[0-9A-F]+)(?= |\n|$)" % index)
    for line in lines:
        if ed.is_type(line, "EXECVE") and ed.serial(line) == serial:
            found = token.search(line.partition(ed.SEP)[0])
            assert found is not None, (index, line)
            old = found.group(0)
            return ed.change_field(
                lines, serial, "EXECVE", old, b" a%d=%s" % (index, raw.hex().upper().encode())
            )
    raise AssertionError(f"no EXECVE record for serial {serial}")


def hostile_log(source: Path, out: Path, needle: bytes) -> int:
    """A copy of ``source`` whose first exec with ``needle`` in its EXECVE record (at least 5 arguments)
    gets the hostile arguments: a1 = an <img onerror>, a2 = a script end tag and script, a3 = bytes ff fe,
    a4 = control characters. Returns that event's serial."""
    lines = ed.read_lines(source)
    serial = ed.exec_serials(lines, needle)[0]
    for index, raw in ((1, IMG.encode()), (2, SCRIPT.encode()), (3, NOT_UTF8), (4, CONTROLS.encode())):
        lines = set_argument(lines, serial, index, raw)
    ed.write(out, lines)
    return serial
