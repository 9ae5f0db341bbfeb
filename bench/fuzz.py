"""A long fuzz run of the log reader, the assembler, the store writer and the CLI (hypothesis).

    nice python bench/fuzz.py [--minutes 10] [--out /var/tmp/exectrail-fuzz] [--cli-share 0.1]

Hypothesis generates the inputs (no new dependency); checks never raise into it, so generation goes
on after a failure and every failing input is counted. Three targets take turns:

* ``damage`` -- a window of a real captured log (tests/data) with some events' lines damaged and
  garbage lines between lines (tests/support/damage.py), as a plain, gzip, multi-member or
  zero-padded gzip file: nothing may raise, every intact exec event comes out exactly as from the
  clean log, no diagnostic holds Python exception text, and (every 20th input) the events go
  through a new store, read back equal, and the store passes ``verify``;
* ``bytes`` -- random bytes (hypothesis's, up to 4 KiB, or up to 64 KiB from a seeded generator), raw, gzip
  cut short, or a damaged deflate stream;
* ``cli`` -- a share of the damaged inputs through ``exectrail review``, ``alarms`` and ``import``
  in a subprocess: never exit 70, never a traceback, stderr's last line ``exectrail: ...``.

Prints, per target and in total: inputs tried, bytes, failures found (and distinct kinds), inputs/s.
Every failing input is written to ``--out`` with a note of what failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tests.property.test_damage import (  # noqa: E402
    check_diagnostics,
    check_intact,
    check_sane,
    read_file,
    store_round_trip,
)
from tests.support.damage import (  # noqa: E402
    BASE_LOGS,
    FILE_FORMS,
    as_file_bytes,
    corpus,
    damage,
    deflate_garbage,
)

BATCH = 200  # examples per hypothesis run; runs repeat until the time is up


@dataclass
class Figures:
    inputs: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))


class Fuzzer:
    def __init__(self, out: Path, cli_share: float) -> None:
        self.out = out
        self.cli_share = cli_share
        self.figures = Figures()
        self.work = Path(tempfile.mkdtemp(prefix="exectrail-fuzz-"))
        self.saved = 0

    def failed(self, target: str, what: str, data: bytes, detail: str) -> None:
        kind = what.splitlines()[0][:120] if what else "?"
        self.figures.failures[target] += 1
        self.figures.kinds[(target, kind)] += 1
        if self.figures.kinds[(target, kind)] <= 3:  # keep a few inputs of each kind
            self.saved += 1
            stem = self.out / f"{target}-{self.saved:04d}"
            stem.with_suffix(".input").write_bytes(data)
            stem.with_suffix(".txt").write_text(f"{kind}\n\n{detail}\n")

    def check(self, target: str, data: bytes, file_bytes: bytes, run: list[tuple[str, object]]) -> None:
        for name, step in run:
            try:
                step()  # type: ignore[operator]
            except Exception as exc:  # every failure is recorded; the run goes on
                message = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                self.failed(target, _generic(message), file_bytes, traceback.format_exc())

    def damage_input(self, rng: random.Random, log: str, form: str) -> None:
        start = time.perf_counter()
        damaged = damage(corpus(log), rng, ratio=rng.choice([0.1, 0.3, 0.6]))
        file_bytes = as_file_bytes(damaged.data, form, rng)
        path = self.work / f"input-{form}.log"
        path.write_bytes(file_bytes)
        self.figures.inputs["damage"] += 1
        self.figures.bytes["damage"] += len(file_bytes)
        try:
            events, diagnostics, _ = read_file(path)
        except Exception:
            self.failed("damage", "read raised: " + _last_line(), file_bytes, traceback.format_exc())
            return
        steps: list[tuple[str, object]] = [
            ("sane", lambda: check_sane(events)),
            ("intact", lambda: check_intact(events, damaged.intact)),
            ("diagnostics", lambda: check_diagnostics(diagnostics)),
        ]
        if self.figures.inputs["damage"] % 20 == 0:
            steps.append(("store", lambda: self._store(events, damaged.intact)))
        self.check("damage", damaged.data, file_bytes, steps)
        self.figures.seconds["damage"] += time.perf_counter() - start
        if rng.random() < self.cli_share:
            self.cli_input(path, file_bytes)

    def _store(self, events: list, intact: dict) -> None:  # type: ignore[type-arg]
        directory = Path(tempfile.mkdtemp(dir=self.work))
        try:
            stored = store_round_trip(events, directory)
            check_intact(stored, intact)
        finally:
            for item in directory.iterdir():
                item.unlink()
            directory.rmdir()

    def bytes_input(self, data: bytes, form: str) -> None:
        start = time.perf_counter()
        if form == "gzip":
            data = as_file_bytes(data, "gzip", random.Random(len(data)))[: len(data) // 2 + 10]
        elif form == "deflate":
            data = deflate_garbage(data)
        path = self.work / "random.bin"
        path.write_bytes(data)
        self.figures.inputs["bytes"] += 1
        self.figures.bytes["bytes"] += len(data)
        try:
            events, diagnostics, _ = read_file(path)
        except Exception:
            self.failed("bytes", "read raised: " + _last_line(), data, traceback.format_exc())
            return
        self.check(
            "bytes",
            data,
            data,
            [("sane", lambda: check_sane(events)), ("diagnostics", lambda: check_diagnostics(diagnostics))],
        )
        self.figures.seconds["bytes"] += time.perf_counter() - start

    def cli_input(self, path: Path, file_bytes: bytes) -> None:
        start = time.perf_counter()
        db = self.work / "cli.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        commands = [
            ["review", "--format", "jsonl", str(path)],
            ["alarms", "--format", "jsonl", str(path)],
            ["import", "--db", str(db), str(path)],
        ]
        for command in commands:
            self.figures.inputs["cli"] += 1
            self.figures.bytes["cli"] += len(file_bytes)
            proc = subprocess.run(
                [sys.executable, "-m", "exectrail.cli.main", *command],
                capture_output=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            )
            stderr = proc.stderr.decode("utf-8", "replace")
            problem = None
            if proc.returncode == 70:
                problem = f"{command[0]}: exit 70: {stderr.strip().splitlines()[-1:]}"
            elif "Traceback" in stderr:
                problem = f"{command[0]}: traceback"
            elif proc.returncode not in ((0, 1, 3) if command[0] == "alarms" else (0, 1)):
                problem = f"{command[0]}: exit {proc.returncode}: {stderr.strip().splitlines()[-1:]}"
            if problem is not None:
                self.failed("cli", _generic(problem), file_bytes, stderr[-4000:])
        self.figures.seconds["cli"] += time.perf_counter() - start


def _last_line() -> str:
    return _generic(traceback.format_exc().strip().splitlines()[-1])


def _generic(message: str) -> str:
    """A failure's kind: its message without the numbers and bytes that differ per input."""
    out = []
    for word in message.split():
        out.append("N" if any(ch.isdigit() for ch in word) else word)
    return " ".join(out)[:160]


def run(minutes: float, out: Path, cli_share: float) -> Figures:
    fuzzer = Fuzzer(out, cli_share)
    until = time.monotonic() + minutes * 60
    quick = settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )

    @quick
    @given(st.randoms(use_true_random=True), st.sampled_from(BASE_LOGS), st.sampled_from(FILE_FORMS))
    def damaged_logs(rng: random.Random, log: str, form: str) -> None:
        if time.monotonic() < until:
            fuzzer.damage_input(rng, log, form)

    large = st.builds(
        lambda seed, size: random.Random(seed).randbytes(size),
        st.integers(0, 2**32),
        st.integers(0, 1 << 16),
    )

    @quick
    @given(st.one_of(st.binary(max_size=4096), large), st.sampled_from(("raw", "gzip", "deflate")))
    def random_bytes(data: bytes, form: str) -> None:
        if time.monotonic() < until:
            fuzzer.bytes_input(data, form)

    for name in BASE_LOGS:
        corpus(name)  # parse the clean logs once, outside the timing
    started = time.monotonic()
    rounds = 0
    while time.monotonic() < until:
        damaged_logs()
        if rounds % 3 == 2:
            random_bytes()
        rounds += 1
        _progress(fuzzer.figures, time.monotonic() - started)
    fuzzer.figures.seconds["total"] = time.monotonic() - started
    shutil.rmtree(fuzzer.work, ignore_errors=True)  # the failing inputs are kept in --out
    return fuzzer.figures


def _progress(figures: Figures, elapsed: float) -> None:
    total = sum(figures.inputs.values())
    print(
        f"\r{elapsed:6.0f} s  {total} inputs  {sum(figures.failures.values())} failing",
        end="",
        file=sys.stderr,
        flush=True,
    )


def report(figures: Figures, out: Path) -> None:
    print(file=sys.stderr)
    elapsed = figures.seconds["total"]
    print(
        f"fuzz run: {elapsed / 60:.1f} min "
        f"(hypothesis {_hypothesis_version()}, python {sys.version.split()[0]})"
    )
    print(f"{'target':8} {'inputs':>8} {'MB':>8} {'failing':>8} {'kinds':>6} {'inputs/s':>9}")
    for target in ("damage", "bytes", "cli"):
        n = figures.inputs[target]
        spent = figures.seconds[target] or 1e-9
        kinds = sum(1 for t, _ in figures.kinds if t == target)
        print(
            f"{target:8} {n:8d} {figures.bytes[target] / 1e6:8.1f} {figures.failures[target]:8d} "
            f"{kinds:6d} {n / spent:9.1f}"
        )
    total = sum(figures.inputs.values())
    print(
        f"{'total':8} {total:8d} {sum(figures.bytes.values()) / 1e6:8.1f} "
        f"{sum(figures.failures.values()):8d} {len(figures.kinds):6d} {total / elapsed:9.1f}"
    )
    if figures.kinds:
        print(f"failure kinds (inputs kept in {out}):")
        for (target, kind), count in figures.kinds.most_common():
            print(f"  {count:6d}  {target}: {kind}")
    else:
        print("no failures")


def _hypothesis_version() -> str:
    import hypothesis

    return str(hypothesis.__version__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("/var/tmp/exectrail-fuzz"))
    parser.add_argument(
        "--cli-share", type=float, default=0.02, help="share of damaged inputs also run by the CLI"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    figures = run(args.minutes, args.out, args.cli_share)
    report(figures, args.out)
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
