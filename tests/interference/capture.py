"""Capture the real logs under tests/interference/data (root, real kernel and auditd).

    python -m tests.interference.capture            # both logs

* ``config_changes.log`` -- auditd with the procmon rules, then every configuration interference
  in turn: ``auditctl -e 0`` (an exec while disabled, ``-e 1``), ``-f 0`` / ``-f 1``, ``-b 100`` /
  back, ``--backlog_wait_time 0`` / back, ``-r 100`` / ``-r 0``, ``-d`` of one procmon rule and
  ``-a`` again, a watch rule, ``auditctl -D`` (3 rules), the rules back, a SERVICE_STOP of auditd
  sent through the kernel as systemd would, then auditd stopped (DAEMON_END).
* ``restarts.log`` -- auditd stopped with SIGTERM and restarted, then killed with SIGKILL and
  restarted, with execs while it was down (their records went to the kernel log only).

The kernel state is restored exactly afterwards (tests.support.auditd_session).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.auditd_session import (
    AUDITD_STOP_TEXT,
    PROCMON_RULES,
    SERVICE_STOP,
    TRUE,
    auditctl,
    kernel_session,
    send_user_message,
)

OUT = Path(__file__).resolve().parent / "data"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def run_true(label: str) -> None:
    subprocess.run([TRUE, label], check=True, env=ENV)


def config_changes(workdir: Path) -> Path:
    with kernel_session(workdir) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        run_true("before-interference")
        auditctl("-e", "0")
        run_true("while-disabled")
        auditctl("-e", "1")
        run_true("after-enable")
        for args in (("-f", "0"), ("-f", "1"), ("-b", "100"), ("-b", "16384"), ("--backlog_wait_time", "0"),
                     ("--backlog_wait_time", "15000"), ("-r", "100"), ("-r", "0")):  # fmt: skip
            auditctl(*args)
        auditctl("-d", *PROCMON_RULES[1])
        run_true("b32-rule-deleted")
        auditctl("-a", *PROCMON_RULES[1])
        auditctl("-w", "/etc/shadow", "-p", "wa", "-k", "shadow")
        auditctl("-D")
        run_true("after-delete-all")
        auditd.add_procmon_rules()
        run_true("rules-back")
        send_user_message(SERVICE_STOP, AUDITD_STOP_TEXT)
        auditd.sync()
        auditd.stop()
        return auditd.log_path


def restarts(workdir: Path) -> Path:
    with kernel_session(workdir) as auditd:
        auditd.start()
        auditd.add_procmon_rules()
        run_true("first-session")
        auditd.sync()
        auditd.stop()
        for i in range(3):
            run_true(f"while-stopped-{i}")
        time.sleep(1)
        auditd.start()
        run_true("second-session")
        auditd.sync()
        auditd.kill()
        for i in range(3):
            run_true(f"while-killed-{i}")
        time.sleep(1)
        auditd.start()
        run_true("third-session")
        auditd.sync()
        auditd.stop()
        return auditd.log_path


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, make in (("config_changes.log", config_changes), ("restarts.log", restarts)):
        workdir = Path(tempfile.mkdtemp(prefix="exectrail-capture-"))
        try:
            shutil.copyfile(make(workdir), OUT / name)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
