"""Benchmark ``exectrail review`` against ``ausearch -i`` and python3-audit's auparse on a real log.

    python bench/review.py [--lines 520000] [--cache /var/tmp/exectrail-bench] [--rebuild] [--repeat 3]

The log is a real ENRICHED audit log captured on this machine (root needed to build it): a private
auditd with the procmon rules records bench/workload_round.sh -- compiles, shell loops, execvp PATH
searches that fail, long arguments -- run two at a time until the log has ``--lines`` lines. It is
cached under ``--cache`` and reused. Then, in one run, each tool reads the whole log:

* ``exectrail review --format jsonl LOG > /dev/null``, compiled (this tree built by mypyc into
  build/compiled, tests/support/compiled.py) and pure Python (``EXECTRAIL_PURE=1``)
* ``ausearch -i -if LOG > /dev/null``
* ``/usr/bin/python3 bench/auparse_argv.py LOG`` (auparse, decodes every exec event's argv)

and the lines/s of each and the ratios are printed (best of ``--repeat`` runs, warm page cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import compiled  # noqa: E402
from tests.support.auditd_harness import auditd_capture, tool  # noqa: E402

HERE = Path(__file__).resolve().parent
ROUND = HERE / "workload_round.sh"
AUPARSE_SCRIPT = HERE / "auparse_argv.py"
SYSTEM_PYTHON = "/usr/bin/python3"
WORKERS = 2
LOG_NAME = "bench_enriched.log"


@dataclass
class Timing:
    name: str
    seconds: float
    cpu: float
    detail: str


def count_lines(path: Path, start: int = 0) -> tuple[int, int]:
    """Newlines in ``path`` from byte ``start``; returns (count, end offset)."""
    count = 0
    with path.open("rb") as fh:
        fh.seek(start)
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
        return count, fh.tell()


def build_log(cache: Path, target_lines: int) -> dict[str, Any]:
    """Capture a fresh ENRICHED log of at least ``target_lines`` lines into ``cache``."""
    work = cache / "work"
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    lines = offset = rounds = 0
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    with auditd_capture("ENRICHED", workdir=cache / "capture", backlog_limit=65536) as capture:
        while lines < target_lines:
            procs = [
                subprocess.Popen(["/bin/sh", str(ROUND), str(work / f"w{i}"), str(rounds + i)], env=env)
                for i in range(WORKERS)
            ]
            for proc in procs:
                proc.wait()
            rounds += WORKERS
            capture.sync()
            new, offset = count_lines(capture.log_path, offset)
            lines += new
            print(
                f"\r  capturing: {lines:,} lines after {rounds} rounds", end="", file=sys.stderr, flush=True
            )
        print(file=sys.stderr)
    log = cache / LOG_NAME
    shutil.move(capture.log_path, log)
    shutil.rmtree(cache / "capture", ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    meta: dict[str, Any] = {
        "lines": count_lines(log)[0],
        "bytes": log.stat().st_size,
        "rounds": rounds,
        "lost": capture.lost_during,
        "capture_seconds": round(time.monotonic() - started, 1),
        "kernel": platform.release(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (cache / "bench_enriched.json").write_text(json.dumps(meta, indent=1) + "\n")
    if capture.lost_during:
        print(f"warning: the kernel lost {capture.lost_during} records during capture", file=sys.stderr)
    return meta


def ensure_log(cache: Path, target_lines: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    log, meta_path = cache / LOG_NAME, cache / "bench_enriched.json"
    if not rebuild and log.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if int(meta["lines"]) >= target_lines and int(meta["bytes"]) == log.stat().st_size:
            return log, meta
    if os.geteuid() != 0:
        sys.exit(f"bench: no cached log in {cache}; building one needs root (kernel audit)")
    cache.mkdir(parents=True, exist_ok=True)
    print(f"building a real ENRICHED audit log of >= {target_lines:,} lines in {cache} ...", file=sys.stderr)
    return log, build_log(cache, target_lines)


def exectrail_cmd() -> list[str]:
    """``exectrail`` as the environment selects it (:func:`compiled.env`: this tree, compiled or its
    pure source, whatever is installed elsewhere)."""
    return [sys.executable, "-m", "exectrail.cli.main"]


def timed(
    name: str, cmd: list[str], repeat: int, keep_stdout: bool = False, env: dict[str, str] | None = None
) -> Timing:
    """Best wall time of ``repeat`` runs (stdout to /dev/null unless kept), with its CPU time; ``env``
    None: this process's environment."""
    best: Timing | None = None
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        stdout = subprocess.PIPE if keep_stdout else subprocess.DEVNULL
        proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(
                f"{name} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}"
            )
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out = (proc.stdout or b"").decode(errors="replace") + proc.stderr.decode(errors="replace")
        if best is None or wall < best.seconds:
            best = Timing(name, wall, cpu, out.strip())
    assert best is not None
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=520_000, help="minimum log size in lines")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/exectrail-bench"))
    parser.add_argument("--rebuild", action="store_true", help="capture a new log even if one is cached")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best is reported")
    args = parser.parse_args()

    log, meta = ensure_log(args.cache, args.lines, args.rebuild)
    lines, size = int(meta["lines"]), int(meta["bytes"])
    count_lines(log)  # warm the page cache so that no tool pays for the first read
    print(
        f"log: {log}  {lines:,} lines, {size / 1e6:.1f} MB (captured {meta['created']}, lost {meta['lost']})"
    )

    review = [*exectrail_cmd(), "review", "--format", "jsonl", str(log)]
    compiled.build()  # this tree compiled by mypyc into build/compiled (kept while the source is unchanged)
    runs = [
        timed("exectrail review --format jsonl", review, args.repeat, env=compiled.env()),
        timed("  the same, pure Python", review, args.repeat, env=compiled.env(pure=True)),
    ]
    runs.append(timed("ausearch -i -if", [tool("ausearch"), "-i", "-if", str(log)], args.repeat))
    have_auparse = (
        subprocess.run([SYSTEM_PYTHON, "-c", "import auparse"], capture_output=True).returncode == 0
    )
    if have_auparse:
        cmd = [SYSTEM_PYTHON, str(AUPARSE_SCRIPT), str(log)]
        runs.append(timed("auparse argv decode (python3-audit)", cmd, args.repeat, keep_stdout=True))
    else:
        print("auparse: python3-audit not importable by /usr/bin/python3; skipped", file=sys.stderr)

    print(f"\n{'tool':<38} {'wall s':>8} {'cpu s':>8} {'lines/s':>12} {'MB/s':>8}")
    for run in runs:
        rate, mbs = lines / run.seconds, size / 1e6 / run.seconds
        print(f"{run.name:<38} {run.seconds:8.2f} {run.cpu:8.2f} {rate:12,.0f} {mbs:8.1f}")
    ours = runs[0]
    speedup = runs[1].seconds / ours.seconds
    print(f"\nexectrail: {compiled.hot_path(compiled.env())}; compiled vs pure Python: {speedup:.2f}x")
    for other in runs[2:]:
        print(f"exectrail vs {other.name}: {other.seconds / ours.seconds:.2f}x the throughput")
    shown = re.search(r"(\d+) events shown", ours.detail)
    if have_auparse:
        counts = json.loads(runs[-1].detail.splitlines()[0])
        print(
            f"exec events: exectrail {shown.group(1) if shown else '?'}, auparse {counts['exec_events']} "
            f"({counts['failed']} failed, {counts['args']:,} arguments, {counts['arg_bytes']:,} argv bytes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
