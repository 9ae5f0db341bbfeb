"""An event and an alarm with a non-UTF-8 byte in every text, and a real log holding one (the
``auditctl`` that deletes the exec rules, run from ``/tmp/ev\\xffil/``): the non-UTF-8 tests' material."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from exectrail.jsonform import details_to_json
from exectrail.model import Alarm, ExecEvent
from exectrail.schema import HEX_TEXT_FIELDS
from tests.support.paths import DATA

RAW = b"/tmp/ev\xffil/auditctl"
BAD = RAW.decode("utf-8", "surrogateescape")
T = datetime(2026, 11, 25, 14, 40, 47, 506000, tzinfo=UTC)


def bad_event(serial: int = 7) -> ExecEvent:
    """An exec with a non-UTF-8 byte in every text field (and in argv)."""
    text = {name: f"{BAD}-{name}" for name in HEX_TEXT_FIELDS}
    parent = details_to_json(
        {"exec_id": "1" * 32, "pid": 1, "exe": BAD, "argv": [BAD, "-l"], "source": "trail"}
    )
    return ExecEvent(T, serial, text["node"], "x86_64", "execve", True, 0, 10, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                     1000, 3, text["tty"], text["comm"], text["exe"], text["cwd"], text["path"], 2,
                     (RAW, b"-l"), text["key"], text["proctitle"], False,
                     text["script"], ("deleted",), "0" * 32, "1" * 32, parent,
                     text["uid_name"], text["euid_name"], text["auid_name"], text["gid_name"], "nss",
                     text["cgroup"], text["systemd_unit"], None, None, "proc", None, "late",
                     details_to_json({"LD_PRELOAD": BAD}), None)  # fmt: skip


def bad_alarm() -> Alarm:
    actor = {"pid": 8174, "uid": 0, "auid": None, "comm": "auditctl", "exe": BAD}
    return Alarm("rules-removed", T, f"2 procmon exec rules deleted (by {BAD} (pid 8174))", "certain",
                 "h\udcf6st", {"actor": actor, "units": ["ok", BAD], "n": 2},
                 (f'type=SYSCALL msg=audit(1795618247.186:1111): exe="{BAD}"', "type=EOE plain"))  # fmt: skip


def _bad_log(tmp_path: Path) -> Path:
    """workload_enriched.log with the rule-deleting auditctl run from a non-UTF-8 path (logged as hex)."""
    lines = (DATA / "workload_enriched.log").read_bytes().split(b"\n")
    hexed = RAW.hex().upper().encode()
    changed = 0
    for i, line in enumerate(lines):
        if b"pid=8174 " in line and b'exe="/usr/sbin/auditctl"' in line:
            lines[i] = line.replace(b'exe="/usr/sbin/auditctl"', b"exe=" + hexed)
            changed += 1
        elif b"msg=audit(1795618247.186:1110)" in line and b'name="/usr/sbin/auditctl"' in line:
            lines[i] = line.replace(b'name="/usr/sbin/auditctl"', b"name=" + hexed)
            changed += 1
    assert changed == 3
    path = tmp_path / "bad.log"
    path.write_bytes(b"\n".join(lines))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([sys.executable, "-m", "exectrail.cli.main", *args], capture_output=True)
    assert b"Traceback" not in result.stderr and result.returncode != 70, result.stderr
    return result
