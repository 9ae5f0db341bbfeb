"""Everything the hot path answers for a set of logs, as one JSON document, for one hot path.

    python -m tests.support.hotpath_diff OUT.json LOG...

Run once with the compiled modules and once with ``EXECTRAIL_PURE=1`` (tests/compiled); the two
documents must be equal. For each log: the events, alarms and diagnostics of the library's
``scan_logs`` (every field, every diagnostic sample), and the bytes, messages and exit status of
``exectrail review --format jsonl`` and ``exectrail alarms --format jsonl``. :func:`hostile_logs`
draws hostile logs with hypothesis for the test to pass to both runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exectrail import hotpath
from exectrail.interference.detector import scan_logs
from tests.support.cli import run_cli
from tests.support.damage import BASE_LOGS, FILE_FORMS, as_file_bytes, corpus, damage


def hostile_logs(count: int, folder: Path) -> list[Path]:
    """``count`` hostile logs drawn by hypothesis into ``folder``: windows of the real captures with
    damaged, moved, garbage and interleaved lines in every file form (plain, gzip, several gzip
    members, padded), and random bytes."""
    drawn: list[bytes] = []

    damaged = st.tuples(
        st.sampled_from(BASE_LOGS), st.randoms(use_true_random=False), st.sampled_from(FILE_FORMS)
    ).map(lambda t: as_file_bytes(damage(corpus(t[0]), t[1]).data, t[2], t[1]))

    @settings(
        derandomize=True,
        database=None,
        max_examples=count,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(damaged, damaged, damaged, st.binary(max_size=4096)))
    def draw(data: bytes) -> None:
        drawn.append(data)

    draw()
    paths = []
    for number, data in enumerate(drawn[:count]):
        path = folder / f"hostile-{number:04d}.log"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


def answers(log: Path) -> dict[str, Any]:
    """What the library and the command line answer for ``log``."""
    result = scan_logs([log], keep_events=True)
    diagnostics = result.scan.diagnostics
    found: dict[str, Any] = {
        "events": [event.to_dict() for event in result.events],
        "alarms": [alarm.to_dict() for alarm in result.alarms],
        "diagnostic_counts": dict(sorted(diagnostics.counts.items())),
        "diagnostic_samples": [_plain(sample) for sample in diagnostics.samples],
    }
    for command in ("review", "alarms"):
        cli = run_cli([command, "--format", "jsonl", str(log)])
        found[command] = {
            "exit": cli.exit_code,
            "stdout": cli.stdout_bytes.decode("utf-8", "backslashreplace"),
            "stderr": cli.stderr_bytes.decode("utf-8", "backslashreplace"),
            "exception": None
            if cli.exception is None or isinstance(cli.exception, SystemExit)
            else repr(cli.exception),
        }
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("logs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    document = {"hot_path": hotpath.describe(), "logs": {str(log): answers(log) for log in args.logs}}
    args.out.write_bytes(orjson.dumps(document, default=_plain, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
