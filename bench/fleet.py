"""Benchmark the fleet: 100 hosts × 100,000 exec events (10M rows) forwarded to ClickHouse through the
ClickHouse sink from one forwarder, then the responder's questions over the fleet, and ``ausearch``
answering them from one host's log.

    python bench/fleet.py [--hosts 100] [--events 100000] [--keep DIR [--reuse]] [--sql] [--repeat 5]
                          [--work DIR] [--json OUT]

The events are the committed real captures (tests/data, 543 exec events) replayed by bench/fleet_data.py
(hosts ``host000``…, times, serials and pids shifted; ~100 heartbeats per host, the last three hosts
fall silent half-way). A private ``clickhouse-server`` (tests/support/servers.py) runs on a spare port;
``--keep DIR`` keeps its data there (stopped at the end; the restart command is printed) and ``--reuse``
asks the data already kept there instead of loading it again. Figures:

1. ingest through a :class:`SinkSet` with the ClickHouse sink (the way ``review --sink`` forwards):
   the whole load (replay + submit → every event acknowledged), then on pre-built events (submit →
   acknowledged, ``--probe`` events into a scratch table), and the sink alone (pre-built messages →
   ``send`` in the sink's batch size);
2. the questions through the CLI (a new ``exectrail`` process each time, median of ``--repeat``):
   ``search --text RARE``, ``search --text COMMON`` with ``--limit 100`` and without (lines counted),
   ``tree PID --host hostNNN``, ``fleet status``; a command that fails is reported with its reason;
3. ``--sql``: the raw SQL of those questions in variants (bench/fleet_sql.py);
4. ``ausearch`` over host000's rounds written as a text log: rare word, common word, ``--ppid``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.support.paths import DATA  # noqa: E402
from tests.support.servers import ClickHouse  # noqa: E402

from exectrail.model import Diagnostics, ExecEvent  # noqa: E402
from exectrail.pipeline import read_exec_events  # noqa: E402
from exectrail.sinks import SinkSet  # noqa: E402
from exectrail.sinks.base import event_message  # noqa: E402
from exectrail.sinks.clickhouse import ClickHouseSink  # noqa: E402
from exectrail.sinks.forwarder import Forwarder  # noqa: E402
from exectrail.sinks.registry import parse_sink_url  # noqa: E402
from exectrail.warehouse.client import ClickHouseClient  # noqa: E402
from exectrail.warehouse.table import row_json, to_row  # noqa: E402
from fleet_data import COMMON_WORD, Fleet, Questions, host_name, rare_word  # noqa: E402
from fleet_sql import SECTIONS, measure_sql  # noqa: E402
from store import ROUND_SPAN, cli  # noqa: E402

CAPTURES = (DATA / "interleaved_concurrent.log", DATA / "workload_enriched.log")
TABLE = "exec_events"
BEATS = 100  # heartbeats per host over the load (fewer when a host has fewer rounds)
SILENT_HOSTS = 3  # the last hosts stop sending heartbeats half-way (fleet status flags them)


def say(text: str) -> None:
    print(text, flush=True)


class CpuClock:
    """CPU seconds spent by this process (all threads) and by the ClickHouse server since ``start``."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.ours, self.theirs = time.process_time(), self._server()

    def _server(self) -> float:
        if self.server_pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def per_event(self, events: int) -> dict[str, float]:
        """Microseconds of CPU per event: this process (submit + forwarder) and the server."""
        return {"python_cpu_us_per_event": (time.process_time() - self.ours) / events * 1e6,
                "server_cpu_us_per_event": (self._server() - self.theirs) / events * 1e6}  # fmt: skip


def base_log(work: Path) -> Path:
    """The captures as one log (bench/store.py's replay rewrites one file into rounds)."""
    log = work / "captures.log"
    log.write_bytes(b"".join(p.read_bytes() for p in CAPTURES))
    return log


def load(
    url: str, fleet: Fleet, hosts: int, per_host: int, spool: Path, server: int | None
) -> dict[str, Any]:
    """Every host's rounds, interleaved round by round, through one SinkSet; heartbeats on the way."""
    n = len(fleet.events)
    rounds = -(-per_host // n)
    interval = ROUND_SPAN * max(1, rounds / BEATS)  # seconds between a host's heartbeats
    sinks = SinkSet.from_urls([url], spool, host=host_name(0), tuning=None)
    (forwarder,) = sinks.forwarders
    submitted = beats = 0
    waited = 0.0
    limit = backlog_limit(forwarder, fleet)
    cpu = CpuClock(server)
    start = time.perf_counter()
    for r in range(rounds):
        take = min(n, per_host - r * n)
        for h in range(hosts):
            waited += pace(forwarder, limit)
            sinks.host = host_name(h)
            for event in itertools.islice(fleet.round(h, r), take):
                sinks.submit(event)
            submitted += take
            silent = h >= hosts - SILENT_HOSTS and r > rounds // 2
            beat = r * BEATS // rounds
            if (r == 0 or beat != (r - 1) * BEATS // rounds) and not silent:
                sinks.submit_message(fleet.heartbeat(h, r, beat, "running", interval))
                beats += 1
            if r == rounds - 1 and h < hosts - SILENT_HOSTS:
                sinks.submit_message(fleet.heartbeat(h, r, BEATS, "stopped", interval))
                beats += 1
        if r % 10 == 0:
            rate = submitted / (time.perf_counter() - start)
            say(f"  round {r}/{rounds}: {submitted:,} events submitted ({rate:,.0f}/s)")
    submit_s = time.perf_counter() - start
    (summary,) = sinks.close(timeout=3600)
    total_s = time.perf_counter() - start
    if summary.pending or summary.dropped or summary.delivered != submitted + beats:
        raise SystemExit(f"ingest lost events: {summary}")
    return {"events": submitted, "heartbeats": beats, "submit_s": submit_s, "paced_s": waited,
            "total_s": total_s, "events_per_s": submitted / total_s, **cpu.per_event(submitted)}  # fmt: skip


def backlog_limit(forwarder: Forwarder, fleet: Fleet) -> int:
    """Events the forwarder may hold before the bench waits: its memory bound plus the open batch,
    less a margin, in events of the fleet's average size (beyond the bound they would go to the spool:
    the bench measures what the forwarder delivers, not how fast a disk fills)."""
    size = statistics.mean(len(event_message(e, "host000").json) for e in fleet.events)
    tuning = forwarder.tuning
    return int(0.8 * (tuning.memory_bytes + tuning.batch_bytes) / size)


def pace(forwarder: Forwarder, limit: int) -> float:
    """Wait while the forwarder holds more than ``limit`` events; return the seconds waited."""
    start = time.perf_counter()
    while forwarder.status()["backlog"] > limit:
        time.sleep(0.005)
    return time.perf_counter() - start


def prebuilt(fleet: Fleet, count: int) -> list[tuple[str, ExecEvent]]:
    """``count`` events of the fleet (host, event), round by round, built before the clock starts."""
    out: list[tuple[str, ExecEvent]] = []
    for r in itertools.count(1000):
        for h in range(100):
            out.extend((host_name(h), e) for e in fleet.round(h, r))
            if len(out) >= count:
                return out[:count]
    return out


def probe_ingest(
    url: str, fleet: Fleet, events: list[tuple[str, ExecEvent]], spool: Path, server: int | None
) -> dict[str, Any]:
    """Submit → all acknowledged for pre-built events, through a SinkSet (one forwarder)."""
    cpu = CpuClock(server)
    start = time.perf_counter()
    sinks = SinkSet.from_urls([url], spool, host="probe")
    (forwarder,) = sinks.forwarders
    limit = backlog_limit(forwarder, fleet)
    for i, (host, event) in enumerate(events):
        if i % 500 == 0:
            pace(forwarder, limit)
        sinks.host = host
        sinks.submit(event)
    submit_s = time.perf_counter() - start
    (summary,) = sinks.close(timeout=3600)
    total_s = time.perf_counter() - start
    assert summary.delivered == len(events) and not summary.pending, summary
    return {"events": len(events), "submit_s": submit_s, "total_s": total_s,
            "events_per_s": len(events) / total_s, **cpu.per_event(len(events))}  # fmt: skip


def probe_sink(url: str, events: list[tuple[str, ExecEvent]], server: int | None) -> dict[str, Any]:
    """The sink alone: pre-built messages → ``send`` in batches of its preferred size."""
    messages = [event_message(e, host) for host, e in events]
    sink = ClickHouseSink(parse_sink_url(url))
    size = int(sink.tuning_hints["batch_events"])
    sink.send(messages[:1])  # the table is created outside the clock
    cpu = CpuClock(server)
    start = time.perf_counter()
    for i in range(0, len(messages), size):
        sink.send(messages[i : i + size])
    seconds = time.perf_counter() - start
    sink.close()
    return {
        "events": len(messages),
        "batch": size,
        "seconds": seconds,
        "events_per_s": len(messages) / seconds,
        **cpu.per_event(len(messages)),
    }


def stages(fleet: Fleet, repeat: int) -> dict[str, float]:
    """CPU microseconds per event of each step this process takes (best of ``repeat``, 100 hosts' round)."""
    events = [e for h in range(100) for e in fleet.round(h, 2000)]
    messages = [event_message(e, "host000") for e in events]
    steps: dict[str, Callable[[], object]] = {
        "replay (bench only)": lambda: [e for h in range(100) for e in fleet.round(h, 2000)],
        "event_message (submit: event_to_dict + orjson)": lambda: [event_message(e, "h") for e in events],
        "row_json (sink)": lambda: [row_json(m) for m in messages],
        "to_row + orjson.dumps (before row_json)": lambda: [orjson.dumps(to_row(m)) for m in messages],
    }
    out = {}
    for name, step in steps.items():
        best = float("inf")
        for _ in range(repeat):
            start = time.process_time()
            step()
            best = min(best, time.process_time() - start)
        out[name] = best / len(events) * 1e6
        say(f"  {name}: {out[name]:.1f} µs CPU per event")
    return out


def run_cli(args: list[str], repeat: int, count_lines: bool = False) -> dict[str, Any]:
    """Median seconds of ``repeat`` runs of ``exectrail ARGS`` (a new process each), and what it said."""
    times: list[float] = []
    lines = 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen([*cli(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        lines = 0
        while chunk := proc.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
        err = proc.stderr.read().decode(errors="replace").strip()
        code = proc.wait()
        times.append(time.perf_counter() - start)
        if code not in (0, 1, 3):
            return {"error": f"exit {code}: {err.splitlines()[-1] if err else 'no message'}"}
    return {"median_s": statistics.median(times), "best_s": min(times), "exit": code,
            "lines" if count_lines else "output_lines": lines}  # fmt: skip


def cli_questions(url: str, fleet: Fleet, hosts: int, rounds: int, repeat: int) -> dict[str, Any]:
    h, r = hosts // 2, rounds // 2
    rare = rare_word(fleet.questions.base_rare, h, r)
    pid, at = fleet.tree_question(h, r)
    asked = {
        "search_rare": ["search", "--from", url, "--text", rare, "--format", "jsonl"],
        "search_common_limit100": [
            "search",
            "--from",
            url,
            "--text",
            COMMON_WORD,
            "--limit",
            "100",
            "--format",
            "jsonl",
        ],
        # every match on the host ausearch reads (every match of the fleet: ~3M lines, minutes)
        "search_common_all_host000": [
            "search",
            "--from",
            url,
            "--host",
            host_name(0),
            "--text",
            COMMON_WORD,
            "--format",
            "jsonl",
        ],
        "tree": [
            "tree",
            str(pid),
            "--at",
            at.isoformat(),
            "--from",
            url,
            "--host",
            host_name(h),
            "--format",
            "jsonl",
        ],
        "fleet_status": ["fleet", "status", "--from", url],
        "startup": ["--version"],
    }
    out: dict[str, Any] = {}
    for name, args in asked.items():
        out[name] = {
            "command": "exectrail " + shlex.join(args),
            **run_cli(args, repeat, "_all" in name),
        }
        say(f"  {name}: {json.dumps(out[name])}")
    return out


def ausearch(work: Path, log: Path, fleet: Fleet, per_host: int) -> dict[str, Any]:
    """host000's rounds as a text log, and ausearch asked the same questions of it."""
    rounds = -(-per_host // len(fleet.events))
    text = work / "host000.log"
    fleet.replay.write_log(log, text, rounds)
    exe = shutil.which("ausearch") or "/usr/sbin/ausearch"
    out: dict[str, Any] = {"events": rounds * len(fleet.events), "log_bytes": text.stat().st_size}
    for name, word in (("rare", fleet.questions.base_rare), ("common", COMMON_WORD)):
        start = time.perf_counter()
        command = f"{exe} -if {text} -m EXECVE -i | grep -- {shlex.quote(word)} | grep -c '^type=EXECVE'"
        proc = subprocess.run(command, shell=True, capture_output=True, text=True)
        out[f"search_{name}_s"] = time.perf_counter() - start
        out[f"search_{name}_matches"] = int(proc.stdout.strip() or 0)
    pid, _ = fleet.tree_question(0, rounds - 1)
    start = time.perf_counter()
    kids = subprocess.run([exe, "-if", str(text), "--ppid", str(pid), "-i"], capture_output=True, text=True)
    out["ppid_scan_s"] = time.perf_counter() - start
    out["ppid_scan_records"] = kids.stdout.count("type=SYSCALL")
    text.unlink()
    return out


def _key(e: ExecEvent) -> tuple[Any, ...]:
    """What the text log and the replay share (the marker's word and exec ids differ)."""
    return e.time, e.serial, e.pid, e.ppid, e.exe, e.argc


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--events", type=int, default=100_000, help="Exec events per host.")
    parser.add_argument("--keep", type=Path, help="Keep ClickHouse's data in DIR (left stopped).")
    parser.add_argument("--reuse", action="store_true", help="Ask the data kept in --keep DIR; no load.")
    parser.add_argument("--probe", type=int, default=300_000, help="Events of the pre-built ingest probes.")
    parser.add_argument("--sql", action="store_true", help="Also time the raw SQL variants.")
    parser.add_argument(
        "--sql-sections", default=",".join(SECTIONS), help="Of the SQL: words,tree,heartbeats."
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.reuse and not (args.keep and (args.keep / "data" / "data").is_dir()):
        parser.error("--reuse wants --keep DIR holding a loaded fleet")
    work = args.work or Path(tempfile.mkdtemp(prefix="exectrail-fleet-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = base_log(work)
    events = list(read_exec_events([log], Diagnostics()))
    fleet = Fleet(events, Questions(events))
    check = work / "replay-check.log"
    fleet.replay.write_log(log, check, 2)  # host000's text log: its rounds but for the marker's word
    replayed = [*fleet.round(0, 0), *fleet.round(0, 1)]
    logged = list(read_exec_events([check], Diagnostics()))
    assert [_key(e) for e in logged] == [_key(e) for e in replayed], "the text log is not host000's rounds"
    check.unlink()
    report: dict[str, Any] = {
        "cpus": os.cpu_count(), "hosts": args.hosts, "events_per_host": args.events,
        "captured_events": len(events), "questions": fleet.questions.describe(),
    }  # fmt: skip
    say(f"fleet: {args.hosts} hosts × {args.events:,} events from {len(events)} captured events")
    server = ClickHouse(args.keep)
    server.start()
    url = server.url(table=TABLE)
    server_pid = server.proc.pid if server.proc else None
    rounds = -(-args.events // len(events))
    try:
        if not args.reuse:
            say("ingest through one SinkSet (ClickHouse sink):")
            report["ingest"] = load(url, fleet, args.hosts, args.events, work / "spool", server_pid)
            say(f"ingest: {json.dumps(report['ingest'])}")
        client = ClickHouseClient("127.0.0.1", server.http_port, timeout=600)
        report["rows"] = int(client.query(f"SELECT count() FROM {TABLE}").decode())
        say(f"rows in {TABLE}: {report['rows']:,}")
        if args.sql:
            sections = tuple(args.sql_sections.split(","))
            report["sql"] = measure_sql(client, TABLE, fleet, args.hosts, rounds, args.repeat, say, sections)
        say("the questions through the CLI:")
        report["cli"] = cli_questions(url, fleet, args.hosts, rounds, args.repeat)
        say("CPU per event of each step in this process:")
        report["stages"] = stages(fleet, 3)
        say("ingest probes (scratch tables):")
        sample = prebuilt(fleet, args.probe)
        for name, probe in (("ingest_prebuilt", "probe_ingest"), ("sink_alone", "probe_sink")):
            probe_url = server.url(table=probe)
            if name == "ingest_prebuilt":
                report[name] = probe_ingest(probe_url, fleet, sample, work / "probe-spool", server_pid)
            else:
                report[name] = probe_sink(probe_url, sample, server_pid)
            client.query(f"DROP TABLE IF EXISTS {probe}")
            say(f"  {name}: {json.dumps(report[name])}")
        client.close()
    finally:
        server.stop()
        if args.keep:
            restart = shlex.join(server.command())
            say(f"ClickHouse stopped; its data stays in {args.keep}. Restart: {restart}  "
                f"(then --from {url})")  # fmt: skip
        else:
            server.cleanup()
    report["ausearch"] = ausearch(work, log, fleet, args.events)
    say(f"ausearch over host000's log: {json.dumps(report['ausearch'])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
