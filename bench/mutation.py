"""A small mutation check of the hot modules: does one changed line make a test fail?

    nice python bench/mutation.py [--sample 80] [--seed 11] [--timeout 300] [--rev HEAD]

The committed tree (``git archive REV``) is unpacked into a temporary directory (with a
``shared`` link beside it, so tests find ../shared/peer-logs as in CI); the work tree is never
touched. Each mutant changes one line of one module in that copy (the file is restored in a
``finally`` before the next one), then the module's test subset runs there with ``-x -q`` and
``PYTHONPATH`` pointing at the copy. A mutant is *killed* when the subset fails (or times out),
*survives* when it passes. A test that fails is run again on the unmutated copy: if it fails there
too it is deselected (for every later mutant as well) and the mutant is tested again.

Mutants: one-line changes found with :mod:`ast` -- a comparison operator swapped (``<``/``<=``,
``==``/``!=``, ``in``/``not in``, ``is``/``is not``), a tuple element dropped, the first two
arguments of a call swapped, a statement replaced by ``pass``, an integer or boolean constant
changed -- sampled evenly over the modules with a fixed seed, plus four written by hand from issue
11 (``node`` dropped from the event key, the chain link hashing its inputs in the other order,
delivered spool files not deleted, a record next to a corrupted line lost). Prints the kill rate per
module and every surviving mutant.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOT_MODULES = (
    "src/exectrail/parse/record.py",
    "src/exectrail/parse/fields.py",
    "src/exectrail/assemble/grouper.py",
    "src/exectrail/assemble/argv.py",
    "src/exectrail/assemble/execve.py",
    "src/exectrail/store/chain.py",
    "src/exectrail/sinks/spool.py",
)
_DECODE_TESTS = ("tests/unit/test_parse.py", "tests/golden", "tests/hostile/test_decode_*.py", "tests/peer")
_ASSEMBLE_TESTS = (
    "tests/unit/test_assemble.py",
    "tests/golden",
    "tests/hostile/test_assemble_*.py",
    "tests/peer",
)
# Fast, close tests first (-x stops at the first failure), then unit, property and golden tests for
# every module; the store's tests only for chain.py (the rest of tests/store takes minutes).
COMMON = ("tests/unit", "tests/property", "tests/golden")
TESTS = {
    "src/exectrail/parse/record.py": (*_DECODE_TESTS, *COMMON),
    "src/exectrail/parse/fields.py": (*_DECODE_TESTS, *COMMON),
    "src/exectrail/assemble/grouper.py": (*_ASSEMBLE_TESTS, *COMMON),
    "src/exectrail/assemble/argv.py": (*_ASSEMBLE_TESTS, *COMMON),
    "src/exectrail/assemble/execve.py": (*_ASSEMBLE_TESTS, *COMMON),
    "src/exectrail/store/chain.py": (
        "tests/hostile/test_tamper_vectors.py",
        "tests/store/test_verify.py",
        "tests/hostile/test_tamper_*.py",
        "tests/store/test_chain.py",
        "tests/store/test_writer.py",
        *COMMON,
    ),
    "src/exectrail/sinks/spool.py": (
        "tests/sinks/test_spool_proof.py",
        "tests/hostile/test_rootsafe_spool.py",
        "tests/sinks",
        "tests/unit",
    ),
}
PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider", "-m", "not kernel and not server", "-W", "ignore")


@dataclass(frozen=True)
class Mutant:
    module: str
    line: int  # 1-based
    kind: str
    before: str  # the whole original line
    after: str  # the whole mutated line (may be several lines for an inserted statement)

    def describe(self) -> str:
        return f"{self.module}:{self.line} [{self.kind}] {self.before.strip()!r} -> {self.after.strip()!r}"


# ---------------------------------------------------------------------------------------- mutants

_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _replace_segment(line: str, node: ast.AST, new: str) -> str:
    start, end = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
    prefix = line.encode()[:start].decode()
    suffix = line.encode()[end:].decode()
    return prefix + new + suffix


def generated_mutants(module: str, source: str) -> list[Mutant]:
    """Every one-line mutant of ``source`` that this script knows how to make."""
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = _docstring_lines(tree)
    annotations: set[int] = set()  # nodes of type annotations: mutating them changes nothing
    for node in ast.walk(tree):
        for ann in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if isinstance(ann, ast.AST):
                annotations.update(id(sub) for sub in ast.walk(ann))
    out: list[Mutant] = []

    def add(node: ast.AST, kind: str, new_text: str) -> None:
        lineno = node.lineno  # type: ignore[attr-defined]
        if lineno != node.end_lineno or lineno in skip:  # type: ignore[attr-defined]
            return
        before = lines[lineno - 1]
        after = _replace_segment(before, node, new_text)
        if after != before:
            out.append(Mutant(module, lineno, kind, before, after))

    for node in ast.walk(tree):
        if id(node) in annotations:
            continue
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAPS:
            swapped = ast.Compare(node.left, [_SWAPS[type(node.ops[0])]()], node.comparators)
            add(node, "compare", ast.unparse(swapped))
        elif isinstance(node, ast.Tuple) and len(node.elts) >= 2 and isinstance(node.ctx, ast.Load):
            drop = len(node.elts) - 1 if len(node.elts) > 2 else 1
            kept = [e for i, e in enumerate(node.elts) if i != drop]
            add(node, "tuple-drop", "(" + ", ".join(ast.unparse(e) for e in kept) + ",)")
        elif (
            isinstance(node, ast.Call)
            and len(node.args) >= 2
            and not any(isinstance(a, ast.Starred) for a in node.args[:2])
        ):
            args = [node.args[1], node.args[0], *node.args[2:]]
            add(node, "swap-args", ast.unparse(ast.Call(node.func, args, node.keywords)))
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                add(node, "constant", repr(not value))
            elif isinstance(value, int):
                add(node, "constant", repr(value + 1 if value != 1 else 0))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in (sub for function in functions for sub in ast.walk(function)):  # statements in functions
        body_lists = [getattr(node, name, None) for name in ("body", "orelse", "finalbody")]
        for body in body_lists:
            if not isinstance(body, list) or len(body) < 2:
                continue  # deleting the only statement would need a pass anyway: keep it simple
            for stmt in body:
                if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Expr, ast.Return, ast.Raise, ast.Delete)):
                    if stmt.lineno != stmt.end_lineno or stmt.lineno in skip:
                        continue
                    before = lines[stmt.lineno - 1]
                    indent = before[: len(before) - len(before.lstrip())]
                    out.append(Mutant(module, stmt.lineno, "delete", before, indent + "pass"))
    return out


@dataclass(frozen=True)
class HandMutant:
    """A mutant from issue 11: ``pattern`` (a regex on one line) replaced by ``replacement``."""

    name: str
    module: str
    pattern: str
    replacement: str

    def make(self, source: str) -> Mutant | None:
        lines = source.splitlines()
        for i, line in enumerate(lines):
            if re.search(self.pattern, line):
                after = re.sub(self.pattern, self.replacement, line, count=1)
                return Mutant(self.module, i + 1, f"issue11:{self.name}", line, after)
        return None


HAND_MUTANTS = (
    HandMutant(
        "node-dropped-from-event-key",
        "src/exectrail/assemble/grouper.py",
        r"record\.key if node is None else \(node, record\.key\)",
        "record.key",
    ),
    HandMutant(
        "chain-link-inputs-swapped",
        "src/exectrail/store/chain.py",
        r"_sha256\(previous \+ row_digest\)",
        "_sha256(row_digest + previous)",
    ),
    HandMutant(
        "delivered-spool-file-not-deleted",
        "src/exectrail/sinks/spool.py",
        r"^(\s*)entry\.path\.unlink\(\)\s*$",  # the one place a delivered batch file is deleted
        r"\1pass",
    ),
    HandMutant(
        "record-before-a-corrupted-line-lost",
        "src/exectrail/parse/record.py",
        r"^(\s*)(on_bad\(.*\))\s*$",
        r"\1\2; out and out.pop()",
    ),
)


# ------------------------------------------------------------------------------------------ runs

Result = tuple[Mutant, str, float, str | None]  # mutant, outcome, seconds, first failing test


def unpack(rev: str, into: Path) -> Path:
    """``git archive rev`` of the work tree's repository under ``into/main``; ``into/shared``
    links to the real ../shared so peer logs are found where CI finds them."""
    tree = into / "main"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (into / "shared").symlink_to(shared)
    return tree


def run_tests(
    tree: Path, tests: tuple[str, ...], timeout: float, deselect: list[str]
) -> tuple[str, str | None]:
    """Run ``tests`` (globs, or node ids with ``::``) in ``tree``: ``"pass"``, ``"fail"`` or
    ``"timeout"``, and the id of the first failing test when pytest names it."""
    paths: list[str] = []
    for pattern in tests:
        found = [pattern] if "::" in pattern else sorted(str(p.relative_to(tree)) for p in tree.glob(pattern))
        paths.extend(p for p in found if p not in paths)
    args = [sys.executable, "-m", "pytest", *PYTEST_FLAGS, *paths]
    args += [f"--deselect={d}" for d in deselect]
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH")}
    env["PYTHONPATH"] = f"{tree / 'src'}{os.pathsep}{tree}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        proc = subprocess.run(args, cwd=tree, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", None
    if proc.returncode == 0:
        return "pass", None
    failed = re.search(rb"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.MULTILINE)
    return "fail", None if failed is None else failed.group(1).decode("utf-8", "replace")


def choose(tree: Path, sample: int, seed: int) -> list[Mutant]:
    rng = random.Random(seed)
    per_module = -(-sample // len(HOT_MODULES))  # rounded up; 0 for the hand-written ones only
    chosen: list[Mutant] = []
    for module in HOT_MODULES:
        source = (tree / module).read_text()
        candidates = generated_mutants(module, source)
        rng.shuffle(candidates)
        chosen.extend(candidates[:per_module])
    for hand in HAND_MUTANTS:
        mutant = hand.make((tree / hand.module).read_text())
        if mutant is None:
            print(
                f"hand mutant {hand.name}: its line is no longer in {hand.module} (pattern {hand.pattern!r})"
            )
        else:
            chosen.append(mutant)
    return chosen


def apply_and_test(tree: Path, mutant: Mutant, timeout: float, deselect: list[str]) -> tuple[str, str | None]:
    """Test one mutant; a failing test that also fails without the mutant is deselected (for every
    later mutant too) and the mutant tested again. The file is always restored."""
    path = tree / mutant.module
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    assert lines[mutant.line - 1].rstrip("\n") == mutant.before
    lines[mutant.line - 1] = mutant.after + "\n"
    mutated = "".join(lines)
    try:
        compile(mutated, str(path), "exec")
    except SyntaxError:
        return "invalid", None
    try:
        while True:
            path.write_text(mutated)
            outcome, failed = run_tests(tree, TESTS[mutant.module], timeout, deselect)
            if outcome != "fail" or failed is None or failed in deselect:
                return outcome, failed
            path.write_text(original)
            if run_tests(tree, (failed,), timeout, [])[0] == "pass":
                return outcome, failed  # fails only with the mutant: killed
            print(f"  fails without any mutant too, deselected from now on: {failed}", flush=True)
            deselect.append(failed)
    finally:
        path.write_text(original)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sample", type=int, default=80, help="generated mutants in all (spread over modules)"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant's test run")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--only-hand", action="store_true", help="run the four issue-11 mutants only")
    parser.add_argument("--list", action="store_true", help="print the chosen mutants and stop")
    parser.add_argument("--stop-at", metavar="HH:MM", help="start no mutant after this UTC time")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="exectrail-mutation-") as tmp:
        tree = unpack(args.rev, Path(tmp))
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.rev], capture_output=True, text=True
        )
        print(f"mutation check of {rev.stdout.strip()} in {tree}", flush=True)
        mutants = choose(tree, 0 if args.only_hand else args.sample, args.seed)
        if args.list:
            for mutant in mutants:
                print(mutant.describe())
            return 0
        deselect: list[str] = []
        results: dict[str, list[Result]] = defaultdict(list)
        for i, mutant in enumerate(mutants, 1):
            if args.stop_at and time.strftime("%H:%M", time.gmtime()) >= args.stop_at:
                print(f"stopping at {args.stop_at} UTC: {len(mutants) - i + 1} mutants not run", flush=True)
                break
            t0 = time.monotonic()
            outcome, failed = apply_and_test(tree, mutant, args.timeout, deselect)
            spent = time.monotonic() - t0
            results[mutant.module].append((mutant, outcome, spent, failed))
            killer = f" (by {failed})" if failed else ""
            print(f"[{i}/{len(mutants)}] {outcome:8} {spent:6.1f}s {mutant.describe()}{killer}", flush=True)
    report(results, time.monotonic() - started)
    return 0


def report(results: dict[str, list[Result]], elapsed: float) -> None:
    print(
        f"\nkill rate per module ({elapsed / 60:.1f} min; a timeout counts as killed, an invalid mutant not)"
    )
    total_killed = total = 0
    for module in HOT_MODULES:
        rows = [r for r in results.get(module, []) if r[1] != "invalid"]
        killed = sum(1 for _, outcome, _, _ in rows if outcome in ("fail", "timeout"))
        total_killed, total = total_killed + killed, total + len(rows)
        rate = f"{100 * killed / len(rows):5.1f}%" if rows else "    -"
        print(f"  {module:40} {killed:3d}/{len(rows):<3d} {rate}")
    print(f"  {'all':40} {total_killed:3d}/{total:<3d} {100 * total_killed / max(total, 1):5.1f}%")
    print("issue 11 mutants:")
    for rows in results.values():
        for mutant, outcome, _, failed in rows:
            if mutant.kind.startswith("issue11:"):
                verdict = f"killed by {failed}" if outcome in ("fail", "timeout") else outcome.upper()
                print(f"  {mutant.kind[8:]:40} {verdict}")
    print("survivors:")
    for rows in results.values():
        for mutant, outcome, _, _ in rows:
            if outcome == "pass":
                print(f"  {mutant.describe()}")


if __name__ == "__main__":
    sys.exit(main())
