"""Benchmark forwarding: events/s from a real audit log to rsyslog (TCP, TLS, RELP) and ClickHouse, and
the time to drain the spool after a 10 s receiver outage (TCP, RELP).

    python bench/forward.py [--log PATH] [--lines 500000] [--outage 10]

The log is ``/var/tmp/exectrail-bench/bench_enriched.log`` (real, built by bench/review.py) when it
exists with at least ``--lines`` lines, else one made of the committed real logs repeated with shifted
serials (tests/support/biglog.py). The receivers are real servers on 127.0.0.1 started here
(tests/support/servers.py: rsyslog with imtcp + gtls + imrelp writing to a file, Debian clickhouse-server).

Figures: parsing alone (the log → events); each sink fed with the parsed events (submit → every
event acknowledged, i.e. ``SinkSet.close`` returned with nothing pending), checked at the receiver
(every id arrived; zero loss); ``review``-style end to end (parse + forward) to TCP; and the outage:
rsyslog stopped, all events submitted (they go to the spool), rsyslog started after ``--outage``
seconds, then the time until the spool is drained and everything is acknowledged.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.biglog import write_big_log  # noqa: E402
from tests.support.servers import ClickHouse, Rsyslog  # noqa: E402
from tests.support.sink_checks import first_occurrences  # noqa: E402

from exectrail.model import Diagnostics, ExecEvent  # noqa: E402
from exectrail.pipeline import read_exec_events  # noqa: E402
from exectrail.sinks import SinkSet, SinkSummary  # noqa: E402

REAL_LOG = Path("/var/tmp/exectrail-bench/bench_enriched.log")
MADE_LOG = Path("/var/tmp/exectrail-bench/forward_bench.log")


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def pick_log(given: str | None, min_lines: int) -> tuple[Path, int]:
    if given:
        return Path(given), count_lines(Path(given))
    if REAL_LOG.exists() and (n := count_lines(REAL_LOG)) >= min_lines:
        return REAL_LOG, n
    MADE_LOG.parent.mkdir(parents=True, exist_ok=True)
    return MADE_LOG, write_big_log(MADE_LOG, min_lines)


def forward(url: str, events: list[ExecEvent], spool: Path, host: str) -> tuple[float, float, SinkSummary]:
    """(seconds in submit, seconds until all acknowledged, summary)."""
    sinks = SinkSet.from_urls([url], spool, host=host, warn=lambda text: print(f"  [{text}]"))
    start = time.perf_counter()
    for event in events:
        sinks.submit(event)
    submitted = time.perf_counter()
    [summary] = sinks.close(timeout=900)
    return submitted - start, time.perf_counter() - start, summary


def check_syslog(rsyslog: Rsyslog, host: str, expected: list[str]) -> str:
    rsyslog.wait_for(host, len(expected), timeout=300)
    ids = [body["id"] for body in rsyslog.bodies(host)]
    assert set(ids) == set(expected), f"{len(set(expected) - set(ids))} events missing at the receiver"
    assert first_occurrences(ids) == expected, "order differs"
    return f"all {len(expected)} arrived in order, {len(ids) - len(expected)} duplicates"


def check_clickhouse(clickhouse: ClickHouse, host: str, expected: list[str]) -> str:
    got = int(clickhouse.query(f"SELECT uniqExact(id) FROM default.bench WHERE host = '{host}'"))
    assert got == len(expected), f"{len(expected) - got} events missing in ClickHouse"
    return f"all {got} rows present"


def report(name: str, n: int, submit_s: float, total_s: float, summary: SinkSummary, check: str) -> None:
    assert summary.dropped == 0 and summary.pending == 0, summary
    print(f"{name:<22} {n / total_s:>10,.0f} events/s  ({total_s:6.2f} s; submit alone "
          f"{n / submit_s:,.0f}/s)  {check}")  # fmt: skip


def outage(
    rsyslog: Rsyslog, events: list[ExecEvent], spool: Path, seconds: float, relp: bool = False
) -> None:
    host = "bench-outage-relp" if relp else "bench-outage"
    expected = [e.event_id for e in events]
    rsyslog.stop()
    url = rsyslog.relp_url if relp else rsyslog.tcp_url
    sinks = SinkSet.from_urls([url], spool, host=host, warn=lambda text: print(f"  [{text}]"))
    down_at = time.perf_counter()
    for event in events:
        sinks.submit(event)
    submit_s = time.perf_counter() - down_at
    restart = threading.Timer(max(0.0, seconds - submit_s), rsyslog.start)
    restart.start()
    restart.join()
    up_at = time.perf_counter()
    peak = sinks.status()[0]
    while sinks.status()[0]["failing"]:  # the next retry (backoff ≤ 5 s) finds the receiver back
        time.sleep(0.01)
    back_at = time.perf_counter()
    [summary] = sinks.close(timeout=900)
    done_at = time.perf_counter()
    assert summary.dropped == 0 and summary.pending == 0, summary
    check = check_syslog(rsyslog, host, expected)
    kind = "RELP" if relp else "TCP"
    print(f"outage {up_at - down_at:4.1f} s ({kind})  spool at restart {peak['spool_events']:,} events "
          f"({peak['spool_bytes'] / 1e6:.0f} MB); reconnected {back_at - up_at:.2f} s after the restart, "
          f"spool drained {done_at - up_at:.2f} s after it ({len(events) / (done_at - back_at):,.0f} "
          f"events/s); {check}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", help="audit log to read (default: the bench log, see above)")
    parser.add_argument("--lines", type=int, default=500_000, help="minimum log size in lines")
    parser.add_argument("--outage", type=float, default=10.0, help="receiver outage in seconds")
    args = parser.parse_args()

    log, lines = pick_log(args.log, args.lines)
    start = time.perf_counter()
    events = list(read_exec_events([log], Diagnostics()))
    parse_s = time.perf_counter() - start
    expected = [e.event_id for e in events]
    print(f"log {log}: {lines:,} lines, {log.stat().st_size / 1e6:.0f} MB, {len(events):,} exec events")
    rate = f"{len(events) / parse_s:>10,.0f} events/s  ({parse_s:6.2f} s, {lines / parse_s:,.0f} lines/s)"
    print(f"{'parse only':<22} {rate}")

    work = Path(tempfile.mkdtemp(prefix="exectrail-forward-bench-"))
    rsyslog = Rsyslog(work / "rsyslog", relp=True)
    clickhouse = ClickHouse()
    try:
        rsyslog.start()
        clickhouse.start()
        targets = [
            ("rsyslog TCP", rsyslog.tcp_url, "bench-tcp"),
            ("rsyslog TLS", rsyslog.tls_url, "bench-tls"),
            ("rsyslog RELP", rsyslog.relp_url, "bench-relp"),
            ("rsyslog RELP+TLS", rsyslog.relp_tls_url, "bench-relp-tls"),
            ("ClickHouse HTTP", clickhouse.url(table="bench"), "bench-ch"),
        ]
        for name, url, host in targets:
            submit_s, total_s, summary = forward(url, events, work / "spool", host)
            if url.startswith("clickhouse"):
                check = check_clickhouse(clickhouse, host, expected)
            else:
                check = check_syslog(rsyslog, host, expected)
            report(name, len(events), submit_s, total_s, summary, check)

        host = "bench-e2e"
        sinks = SinkSet.from_urls([rsyslog.tcp_url], work / "spool", host=host)
        start = time.perf_counter()
        for event in read_exec_events([log], Diagnostics()):
            sinks.submit(event)
        [summary] = sinks.close(timeout=900)
        total_s = time.perf_counter() - start
        check = check_syslog(rsyslog, host, expected)
        print(f"{'read + forward (TCP)':<22} {len(events) / total_s:>10,.0f} events/s  ({total_s:6.2f} s, "
              f"{lines / total_s:,.0f} lines/s)  {check}")  # fmt: skip
        assert summary.dropped == 0 and summary.pending == 0

        outage(rsyslog, events, work / "spool", args.outage)
        outage(rsyslog, events, work / "spool", args.outage, relp=True)
    finally:
        rsyslog.stop()
        clickhouse.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
