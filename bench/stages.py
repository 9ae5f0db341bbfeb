"""Where ``review`` spends its time, stage by stage, compiled and pure Python, on the bench log.

    python bench/stages.py [--log /var/tmp/exectrail-bench/bench_enriched.log] [--repeat 3]

Each stage runs the pipeline up to one more step, in a fresh process (best of ``--repeat``):

1. ``lines``: the file read in blocks and split into lines (Python's ``bytes.split``: the floor of any
   Python reader);
2. ``records``: the reader (parse.logfile, parse.record): lines into records;
3. ``events``: records grouped by event and decoded into exec events (assemble, enrich);
4. ``scan``: ``scan_logs`` with the alarm scan (what ``review`` does before writing);
5. ``jsonl``: the same, each event written as a JSON line to /dev/null (``review --format jsonl``
   without the command line's start-up).

The compiled copy is this tree built by mypyc into build/compiled (tests/support/compiled.py); pure
Python is the same copy with ``EXECTRAIL_PURE=1``. Each stage runs with the garbage collector set as
the ``exectrail`` command sets it (``hotpath.tune_garbage_collector``). The difference between two
stages is the cost of the step; the ratio of the two columns is the speed-up mypyc gives that step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import compiled  # noqa: E402

STAGES = ("lines", "records", "events", "scan", "jsonl")
LOG = Path("/var/tmp/exectrail-bench/bench_enriched.log")


def run_stage(stage: str, log: str) -> int:
    """Run ``stage`` over ``log`` in this process; returns what it counted."""
    from exectrail.model import Diagnostics

    if stage == "lines":
        count = 0
        with open(log, "rb") as fh:
            while block := fh.read(1 << 20):
                count += len(block.split(b"\n"))
        return count
    if stage == "records":
        from exectrail.parse.logfile import read_record_blocks

        return sum(len(block) for block in read_record_blocks([log], Diagnostics()))
    if stage == "events":
        from exectrail.pipeline import read_exec_events

        return sum(1 for _ in read_exec_events([log], Diagnostics()))
    from exectrail.interference.detector import scan_logs

    if stage == "scan":
        return len(scan_logs([log], keep_events=True).events)
    from exectrail.output.writers import JsonlWriter

    with open("/dev/null", "wb") as sink:
        writer = JsonlWriter(sink)
        result = scan_logs([log], on_event=writer.write, on_alarm=writer.write_alarm)
        writer.close()
    return len(result.alarms)


def timed(stage: str, log: Path, pure: bool, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        command = [sys.executable, __file__, "--run", stage, "--log", str(log)]
        started = time.perf_counter()
        subprocess.run(command, env=compiled.env(pure), check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--log", type=Path, default=LOG)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        from exectrail import hotpath

        hotpath.tune_garbage_collector()  # as the exectrail command does
        print(run_stage(args.run, str(args.log)))
        return 0
    if not args.log.is_file():
        sys.exit(f"bench: no log at {args.log} (python bench/review.py builds it, as root)")
    compiled.build()
    start = [sys.executable, "-c", "import exectrail.interference.detector, exectrail.output.writers"]
    print(f"log: {args.log} ({args.log.stat().st_size / 1e6:.1f} MB)")
    print(f"{'stage':<10} {'pure s':>8} {'compiled s':>11} {'speed-up':>9}   (wall, best of {args.repeat})")
    for stage in STAGES:
        pure, fast = timed(stage, args.log, True, args.repeat), timed(stage, args.log, False, args.repeat)
        print(f"{stage:<10} {pure:8.2f} {fast:11.2f} {pure / fast:8.2f}x")
    started = time.perf_counter()
    subprocess.run(start, env=compiled.env(), check=True)
    print(f"(a process that only imports the scan takes {time.perf_counter() - started:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
