"""Capture the committed real audit logs in tests/data/ (run once, as root, on a test machine).

    python tests/data/capture.py [--out tests/data] [--only workload_enriched ...]

Each capture runs a private auditd (tests/support/auditd_harness.py) with the procmon rules, runs
the exec workload (tests/support/workload/run.py) and writes ``NAME.log`` + ``NAME.manifest.json``.
The kernel audit state is restored afterwards. See tests/data/README.md for what each file shows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.workload.compare import (  # noqa: E402
    interleaved_events,
    read_maybe_gzip,
    serial_decreases,
)
from tests.support.workload.record import Recording, record_workload  # noqa: E402

SEQUENTIAL = ["arguments", "failures", "scripts", "helpers", "concurrent"]
NODE = "exectrail-test"


def _enriched(out: Path) -> Recording:
    return record_workload(
        out / "workload_enriched.log",
        out / "workload_enriched.manifest.json.gz",
        log_format="ENRICHED",
        groups=SEQUENTIAL,
        processes=4,
        chain=3,
    )


def _raw(out: Path) -> Recording:
    return record_workload(
        out / "workload_raw_node.log.gz",
        out / "workload_raw_node.manifest.json.gz",
        log_format="RAW",
        node=NODE,
        groups=SEQUENTIAL,
        processes=4,
        chain=3,
    )


def _interleaved(out: Path) -> Recording:
    """Many processes exec'ing at once until the log shows interleaved records (a few tries)."""
    for _attempt in range(5):
        recording = record_workload(
            out / "interleaved_concurrent.log",
            out / "interleaved_concurrent.manifest.json.gz",
            log_format="ENRICHED",
            groups=["concurrent"],
            processes=24,
            chain=5,
        )
        if interleaved_events(read_maybe_gzip(recording.log_path)):
            return recording
    return recording


CAPTURES: dict[str, Callable[[Path], Recording]] = {
    "workload_enriched": _enriched,
    "workload_raw_node": _raw,
    "interleaved_concurrent": _interleaved,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--only", nargs="+", choices=list(CAPTURES), default=list(CAPTURES))
    args = parser.parse_args()
    for name in args.only:
        rec = CAPTURES[name](args.out)
        log = read_maybe_gzip(rec.log_path)
        print(
            f"{rec.log_path.name}: {rec.lines} lines, {len(log)} bytes "
            f"({rec.log_path.stat().st_size} on disk), {len(rec.manifest['cases'])} cases, "
            f"lost {rec.lost}, interleaved events {interleaved_events(log)}, "
            f"serial decreases {serial_decreases(log)}"
        )
        if rec.lost:
            print(f"warning: the kernel lost {rec.lost} records during {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
