"""The RELP window against real rsyslog imrelp: events/s, and duplicates across SIGTERM restarts.

    python bench/relp_window.py [--events 20000] [--restarts 3] [--windows 1,2,8,32] [--rounds 1]

For each window: one run without incident (events/s from the first submit until ``SinkSet.close``
returned with everything acknowledged), then ``--rounds`` runs in which rsyslog is stopped with SIGTERM
``--restarts`` times mid-stream and started again 1 s later. Every run checks the receiver's file:
lost events (must be 0), duplicates (lines whose event id came before, and lines cut short by a
killed receiver), order of first arrivals.
Events are the committed real logs repeated (tests/support/biglog.py), forwarded through ``SinkSet``
with a spool, as ``exectrail review --sink`` does. The figures go to docs/forwarding.md "RELP".
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.biglog import write_big_log  # noqa: E402
from tests.support.servers import Rsyslog, wait_until  # noqa: E402
from tests.support.sink_checks import first_occurrences  # noqa: E402

from exectrail.model import Diagnostics, ExecEvent  # noqa: E402
from exectrail.pipeline import read_exec_events  # noqa: E402
from exectrail.sinks import SinkSet  # noqa: E402
from exectrail.sinks.relp import RelpSink  # noqa: E402


def output_bytes(rsyslog: Rsyslog) -> int:
    try:
        return rsyslog.output.stat().st_size
    except FileNotFoundError:
        return 0


def restarter(rsyslog: Rsyslog, marks: list[int], done: threading.Event, how: int) -> threading.Thread:
    """A thread that stops rsyslog (signal ``how``) each time its file passes the next mark and starts it
    1 s later."""

    def run() -> None:
        for mark in marks:
            while output_bytes(rsyslog) < mark:
                if done.is_set():
                    return
                time.sleep(0.005)
            rsyslog.stop(how)
            time.sleep(1.0)
            rsyslog.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_once(
    rsyslog: Rsyslog, url: str, events: list[ExecEvent], spool: Path, marks: list[int], how: int
) -> tuple[float, int, int, bool]:
    """(seconds, lost, duplicates, in order) of one forwarding run."""
    rsyslog.stop()  # a running rsyslog keeps writing to the file it has open, even when unlinked
    rsyslog.clear()
    rsyslog.start()
    host = "bench-relp"
    sinks = SinkSet.from_urls([url], spool, host=host, warn=lambda text: None)
    done = threading.Event()
    thread = restarter(rsyslog, marks, done, how) if marks else None
    start = time.perf_counter()
    for event in events:
        sinks.submit(event)
    [summary] = sinks.close(timeout=900)
    seconds = time.perf_counter() - start
    done.set()
    if thread is not None:
        thread.join()
    assert summary.pending == 0 and summary.dropped == 0, summary
    expected = [e.event_id for e in events]
    wait_until(lambda: rsyslog.count(host) >= len(expected), 120, "every event", pause=0.1)
    ids, torn = arrived_ids(rsyslog, host)
    lost = len(set(expected) - set(ids))
    return seconds, lost, len(ids) - len(set(ids)) + torn, first_occurrences(ids) == expected


def arrived_ids(rsyslog: Rsyslog, host: str) -> tuple[list[str], int]:
    """(event ids in the order written, lines cut short: a receiver killed while writing one line)."""
    ids, torn = [], 0
    for line in rsyslog.lines():
        parts = line.split(b" ", 3)
        if len(parts) == 4 and parts[1] == host.encode():
            try:
                ids.append(orjson.loads(parts[3])["id"])
            except orjson.JSONDecodeError:
                torn += 1
    return ids, torn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--windows", default="1,2,8,32")
    parser.add_argument("--no-leftover-read", action="store_true",
                        help="the sink does not read the rsps still readable after a broken connection "
                             "(to measure what that reading saves)")  # fmt: skip
    parser.add_argument("--kill", action="store_true", help="stop rsyslog with SIGKILL, not SIGTERM")
    args = parser.parse_args()
    how = signal.SIGKILL if args.kill else signal.SIGTERM
    if args.no_leftover_read:
        RelpSink._read_leftover_rsps = lambda self: None  # type: ignore[method-assign]

    work = Path(tempfile.mkdtemp(prefix="exectrail-relp-bench-"))
    try:
        log = work / "big.log"
        write_big_log(log, args.events * 7)
        events = list(read_exec_events([log], Diagnostics()))[: args.events]
        rsyslog = Rsyslog(work / "rsyslog", relp=True)
        rsyslog.start()
        try:
            print(f"{len(events):,} events; {args.restarts} {how.name} restarts per run, "
                  f"{args.rounds} run(s)")  # fmt: skip
            for window in (int(w) for w in args.windows.split(",")):
                url = f"{rsyslog.relp_url}?window={window}"
                seconds, lost, dups, ordered = run_once(rsyslog, url, events, work / "spool", [], how)
                assert lost == 0 and dups == 0 and ordered
                full = output_bytes(rsyslog)
                marks = [full * (k + 1) // (args.restarts + 1) for k in range(args.restarts)]
                lost_total = dups_total = 0
                per_run = []
                for _ in range(args.rounds):
                    _, lost, dups, ordered = run_once(rsyslog, url, events, work / "spool", marks, how)
                    lost_total += lost
                    dups_total += dups
                    per_run.append(dups)
                    assert ordered, "first arrivals out of order"
                print(f"window {window:>4}: {len(events) / seconds:>8,.0f} events/s; across "
                      f"{args.rounds * args.restarts} restarts: {lost_total} lost, {dups_total} duplicates "
                      f"(per run {per_run})", flush=True)  # fmt: skip
        finally:
            rsyslog.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
