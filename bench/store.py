"""Benchmark the event store: import rate, size per event, search/tree latency at 1M and 10M events,
and ``ausearch`` answering the same questions from the log.

    python bench/store.py [--log PATH] [--sizes 1000000,10000000] [--ausearch-sizes 1000000]
                          [--work DIR] [--repeat 5] [--verify] [--json OUT]

The input is the real ENRICHED log of bench/review.py (>= 500,000 lines, captured on this machine;
``python bench/review.py`` builds it as root under /var/tmp/exectrail-bench). In one run:

1. ``exectrail import --db DB LOG`` (the real command, a fresh store): events/s end to end, and the
   store alone (the same events, already parsed, through ``EventStore.writer().add``): events/s and
   database bytes per event.
2. One store grows to each of ``--sizes`` events by replaying the real events in rounds, each round
   shifted in time (``ROUND_SPAN``), serial and pid (the pid counter runs on from round to round,
   modulo this machine's pid_max, so pids are reused as on a busy long-running host). At each size:
   insert rate, bytes/event, and the latency of two responder questions, in-process (the query
   functions, best and median of ``--repeat``) and through the CLI (a new ``exectrail`` process each
   time):

   * ``search --text WORD`` for a rare word (one file name of the workload: one event per round) and
     a common one (a missing command that fails 114 times per round);
   * ``tree PID`` of a small subtree (``timeout`` → ``sh -c`` → 5 × ``ls``) and of a whole workload
     round (the round's shell, ~1,000 processes).

3. For each of ``--ausearch-sizes``: the same rounds written as a text log (the same shifts applied to
   the lines) and ``ausearch -if LOG -i`` asked the same: ``-m EXECVE`` piped to ``grep -c WORD``, and
   ``--ppid PID`` (one level of a tree; a whole tree needs one such scan per process).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import compiled  # noqa: E402

from exectrail.model import Diagnostics, ExecEvent  # noqa: E402
from exectrail.pipeline import read_exec_events  # noqa: E402
from exectrail.query.search import SearchQuery, search  # noqa: E402
from exectrail.query.tree import ProcessNode, process_tree  # noqa: E402
from exectrail.store import EventStore  # noqa: E402
from exectrail.store.verify import verify  # noqa: E402

DEFAULT_LOG = Path("/var/tmp/exectrail-bench/bench_enriched.log")
ROUND_SPAN = 60  # seconds between the starts of replay rounds (the real log spans ~24 s)
SERIAL_SHIFT = 10_000_000
COMMON_WORD = "exectrail-bench-missing"
_HEADER = re.compile(rb"msg=audit\((\d+)\.(\d+):(\d+)\)")
_PIDS = re.compile(rb" ppid=(\d+) pid=(\d+) ")


def pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 32768


_NAMES = [f.name for f in dataclasses.fields(ExecEvent)]
REPLAYED_FIELDS = _NAMES[: _NAMES.index("fileless") + 1]


class Replay:
    """Round ``r`` of the real events: time + r·ROUND_SPAN s, serial + r·SERIAL_SHIFT, and new pids.

    Processes that never exec in the real log but have children there (the capture's shells, which
    live through it) keep their pids in every round, as long-running processes would. Every other
    pid moves on by how far the pid counter went during the real log, within the pids those
    long-running processes do not hold, so each round's pids continue where the last round's ended
    (the real log already wrapped round this machine's 32768 pids several times)."""

    def __init__(self, events: list[ExecEvent]) -> None:
        self.events = events
        self.pid_max = pid_max()
        self.static = {e.ppid for e in events if e.ppid is not None and e.ppid > 0} - {e.pid for e in events}
        self.free = [p for p in range(1, self.pid_max) if p not in self.static]
        self.index = {p: i for i, p in enumerate(self.free)}
        ordered = sorted((e for e in events if e.pid is not None), key=lambda e: (e.time, e.serial))
        first, last = _known(ordered[0].pid), _known(ordered[-1].pid)
        self.step = (self.index[last] - self.index[first]) % len(self.free) or 1

    def pid(self, pid: int, r: int) -> int:
        i = self.index.get(pid)
        return pid if i is None else self.free[(i + r * self.step) % len(self.free)]

    def round(self, r: int) -> Iterator[ExecEvent]:
        dt, serial = timedelta(seconds=r * ROUND_SPAN), r * SERIAL_SHIFT
        for e in self.events:
            pid = None if e.pid is None else self.pid(e.pid, r)
            ppid = None if e.ppid is None else self.pid(e.ppid, r)
            # positional: this loop is inside the timed insert (dataclasses.replace: 4.8 against 2.0 µs)
            yield ExecEvent(
                e.time + dt, e.serial + serial, e.node, e.arch, e.syscall, e.success, e.exit, pid, ppid,
                e.uid, e.euid, e.suid, e.fsuid, e.gid, e.egid, e.sgid, e.fsgid, e.auid, e.ses, e.tty, e.comm,
                e.exe, e.cwd, e.path, e.argc, e.argv, e.key, e.proctitle, e.incomplete, e.script, e.fileless,
            )  # fmt: skip

    def write_log(self, source: Path, target: Path, rounds: int) -> None:
        """The same rounds as audit log text (only SYSCALL pid/ppid and the headers change)."""
        data = source.read_bytes()
        with target.open("wb") as out:
            for r in range(rounds):

                def header(m: re.Match[bytes], r: int = r) -> bytes:
                    sec, ms, serial = m.groups()
                    return b"msg=audit(%d.%s:%d)" % (
                        int(sec) + r * ROUND_SPAN,
                        ms,
                        int(serial) + r * SERIAL_SHIFT,
                    )

                def pids(m: re.Match[bytes], r: int = r) -> bytes:
                    return b" ppid=%d pid=%d " % (self.pid(int(m.group(1)), r), self.pid(int(m.group(2)), r))

                text = _HEADER.sub(header, data)
                out.write(_PIDS.sub(pids, text) if r else text)


def replayed(event: ExecEvent) -> tuple[Any, ...]:
    """The fields :meth:`Replay.round` gives (its positional arguments, up to ``fileless``)."""
    return tuple(getattr(event, name) for name in REPLAYED_FIELDS)


def _known(pid: int | None) -> int:
    """A pid the benchmark's own log always has (its events are whole)."""
    if pid is None:
        raise SystemExit("bench log: an exec event without a pid (not a log bench/review.py captured)")
    return pid


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best, median) seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def cli() -> list[str]:
    script = Path(sys.executable).with_name("exectrail")
    return [str(script)] if script.exists() else [sys.executable, "-m", "exectrail.cli.main"]


def cli_seconds(args: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([*cli(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def db_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def fresh(path: Path) -> Path:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    return path


def count_tree(node: ProcessNode) -> int:
    return 1 + sum(count_tree(c) for c in node.children)


class Questions:
    """The responder's questions, picked from the real events, asked of round ``r`` (the newest)."""

    def __init__(self, events: list[ExecEvent]) -> None:
        files = Counter(
            m.group(0).decode()
            for e in events
            for a in e.argv or ()
            for m in [re.search(rb"file-\d+-\d+", a)]
            if m
        )
        self.rare = min((w for w, n in files.items() if n == 1), default="procmon")
        timeout = next(e for e in events if e.exe == "/usr/bin/timeout" and e.success)
        shell = next(e for e in events if e.pid == timeout.ppid and e.time <= timeout.time and e.success)
        self.small_pid, self.big_pid = _known(timeout.pid), _known(timeout.ppid)
        self.small_at, self.big_at = timeout.time, shell.time  # the real logs reuse pids: ask "at"

    def describe(self) -> dict[str, Any]:
        return {"rare_word": self.rare, "common_word": COMMON_WORD, "small_tree_pid": self.small_pid,
                "big_tree_pid": self.big_pid}  # fmt: skip


def measure_queries(
    db: Path, questions: Questions, replay: Replay, last_round: int, repeat: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with EventStore(db, readonly=True) as store:
        for name, word in (("search_rare", questions.rare), ("search_common", COMMON_WORD)):

            def search_for(w: str = word) -> list[Any]:
                return list(search(store.conn, SearchQuery(text=(w,))))

            best, median, found = timed(search_for, repeat)
            out[name] = {
                "word": word,
                "results": len(found),
                "best_ms": best * 1e3,
                "median_ms": median * 1e3,
            }
        shift = timedelta(seconds=last_round * ROUND_SPAN)
        for name, pid, at in (
            ("tree_small", questions.small_pid, questions.small_at + shift),
            ("tree_big", questions.big_pid, questions.big_at + shift),
        ):
            target = replay.pid(pid, last_round)

            def tree_of(p: int = target, t: datetime = at) -> Any:
                return process_tree(store.conn, p, t)

            best, median, tree = timed(tree_of, repeat)
            nodes = count_tree(tree.target) + len(tree.ancestors) if tree else 0
            out[name] = {"pid": target, "processes": nodes, "best_ms": best * 1e3, "median_ms": median * 1e3}
    out["cli_search_rare_s"] = cli_seconds(
        ["search", "--db", str(db), "--text", questions.rare, "--format", "jsonl"]
    )
    at_text = (questions.small_at + shift).isoformat()
    small = str(replay.pid(questions.small_pid, last_round))
    out["cli_tree_small_s"] = cli_seconds(
        ["tree", small, "--at", at_text, "--db", str(db), "--format", "jsonl"]
    )
    out["cli_startup_s"] = cli_seconds(["--version"])
    return out


def ausearch(log: Path, questions: Questions, replay: Replay, last_round: int) -> dict[str, Any]:
    exe = shutil.which("ausearch") or "/usr/sbin/ausearch"
    start = time.perf_counter()
    command = f"{exe} -if {log} -m EXECVE -i | grep -- {questions.rare} | grep -c '^type=EXECVE'"
    proc = subprocess.run(command, shell=True, capture_output=True, text=True)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    ppid = str(replay.pid(questions.small_pid, last_round))
    kids = subprocess.run([exe, "-if", str(log), "--ppid", ppid, "-i"], capture_output=True, text=True)
    ppid_s = time.perf_counter() - start
    return {"search_rare_s": search_s, "search_rare_matches": int(proc.stdout.strip() or 0),
            "ppid_scan_s": ppid_s, "ppid_scan_records": kids.stdout.count("type=SYSCALL"),
            "log_bytes": log.stat().st_size}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--ausearch-sizes", default="1000000")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/exectrail-bench/store"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--verify", action="store_true", help="Also time verify at each size.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.log.exists():
        print(f"{args.log} missing: build it with `python bench/review.py` (root)", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    with args.log.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    report: dict[str, Any] = {"log": str(args.log), "log_lines": lines, "cpus": os.cpu_count()}
    print(f"log {args.log}: {lines} lines; exectrail {compiled.hot_path()}", flush=True)

    start = time.perf_counter()
    events = list(read_exec_events([args.log], Diagnostics()))
    parse_s = time.perf_counter() - start
    n = len(events)
    report["parse"] = {"events": n, "seconds": parse_s, "events_per_s": n / parse_s}
    print(f"parse only: {n} events in {parse_s:.2f} s = {n / parse_s:,.0f} events/s", flush=True)

    db = args.work / "import.db"
    usage = subprocess.run([*cli(), "import", "--help"], capture_output=True, text=True).stdout
    extra = ["--no-alarms"] if "--no-alarms" in usage else []
    for label, flags in (("import_cli", []), ("import_cli_events_only", extra)):
        if label != "import_cli" and not flags:
            continue

        def import_once(flags: list[str] = flags) -> None:
            command = [*cli(), "import", *flags, "--db", str(fresh(db)), str(args.log)]
            subprocess.run(command, check=True, stderr=subprocess.DEVNULL)

        best, median, _ = timed(import_once, 3)
        size = db_bytes(db) / n
        report[label] = {"flags": flags, "best_s": best, "median_s": median, "events_per_s": n / best,
                         "bytes_per_event": size}  # fmt: skip
        rate = f"{n / best:,.0f} events/s (parse + store + startup), {size:.0f} bytes/event"
        print(
            f"exectrail import {' '.join(flags)}: best {best:.2f} s (median {median:.2f}) = {rate}",
            flush=True,
        )

    def store_once() -> None:
        with EventStore(fresh(args.work / "store-only.db")) as store, store.writer() as writer:
            for event in events:
                writer.add(event)

    best, median, _ = timed(store_once, 3)
    report["store_only"] = {"best_s": best, "median_s": median, "events_per_s": n / best}
    print(
        f"store only (writer.add of parsed events): {n / best:,.0f} events/s (median {n / median:,.0f})",
        flush=True,
    )

    replay, questions = Replay(events), Questions(events)
    report["questions"] = questions.describe()
    report["sizes"] = []
    db = fresh(args.work / "scale.db")
    rounds_done = 0
    with EventStore(db) as store:
        for size in sorted(int(s) for s in args.sizes.split(",") if s):
            rounds = -(-size // n)
            start = time.perf_counter()
            with store.writer() as writer:
                for r in range(rounds_done, rounds):
                    for event in replay.round(r):
                        writer.add(event)
            added = (rounds - rounds_done) * n
            insert_s = time.perf_counter() - start
            rounds_done = rounds
            row: dict[str, Any] = {"events": rounds * n, "insert_events_per_s": added / insert_s,
                                   "bytes_per_event": db_bytes(db) / (rounds * n)}  # fmt: skip
            row.update(measure_queries(db, questions, replay, rounds - 1, args.repeat))
            if args.verify:
                with EventStore(db, readonly=True) as reader:
                    start = time.perf_counter()
                    assert verify(reader.conn).ok
                    row["verify_events_per_s"] = rounds * n / (time.perf_counter() - start)
            report["sizes"].append(row)
            print(json.dumps(row, indent=1), flush=True)

    check = args.work / "replay-check.log"
    replay.write_log(args.log, check, 2)
    # the fields a round shifts or copies (the context fields are the reader's own: exec ids, parents)
    assert [replayed(e) for e in read_exec_events([check], Diagnostics())] == [
        replayed(e) for e in (*replay.round(0), *replay.round(1))
    ]
    check.unlink()
    report["ausearch"] = []
    for size in sorted(int(s) for s in args.ausearch_sizes.split(",") if s):
        rounds = -(-size // n)
        log = args.work / f"replay-{rounds}.log"
        if not log.exists():
            replay.write_log(args.log, log, rounds)
        row = {"events": rounds * n, **ausearch(log, questions, replay, rounds - 1)}
        report["ausearch"].append(row)
        print(json.dumps(row, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
