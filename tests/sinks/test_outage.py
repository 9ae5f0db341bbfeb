"""A receiver outage in the middle of ``exectrail review --sink``: everything arrives, in order."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exectrail.model import Diagnostics
from exectrail.pipeline import read_exec_events
from tests.support.biglog import write_big_log
from tests.support.servers import Rsyslog, wait_until
from tests.support.sink_checks import first_occurrences

pytestmark = pytest.mark.server


def exectrail(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exectrail.cli.main", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_rsyslog_stopped_and_restarted_during_review(live_rsyslog: Rsyslog, tmp_path: Path, how: int) -> None:
    log = tmp_path / "big.log"
    write_big_log(log, 120_000)
    expected = [e.event_id for e in read_exec_events([log], Diagnostics())]
    host = f"outage-{how}"
    proc = exectrail("review", str(log), "--format", "jsonl", "--sink", live_rsyslog.tcp_url,
                     "--spool", str(tmp_path / "spool"), "--host-name", host,
                     "--sink-wait", "120")  # fmt: skip
    wait_until(lambda: live_rsyslog.count(host) >= 1000, 30, "the first events")
    live_rsyslog.stop(how)
    stopped_at = live_rsyslog.count(host)
    time.sleep(3)
    live_rsyslog.start()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stopped_at < len(expected), "the outage should fall inside the run"
    assert "retrying, events wait in the spool" in stderr and "delivering again" in stderr
    delivered = re.search(r": (\d+) delivered\n", stderr)
    assert delivered and int(delivered[1]) >= len(expected)  # events (+ alarms, issue 7)
    live_rsyslog.wait_for(host, int(delivered[1]), timeout=60)
    ids = [body["id"] for body in live_rsyslog.bodies(host) if body["type"] == "exec"]
    assert set(ids) == set(expected)
    assert first_occurrences(ids) == expected
    print(f"{len(expected)} events, {len(ids) - len(expected)} re-sent after the reconnect")
