"""The pieces of fleet SQL that must mean what Python means, run on the real ClickHouse: globs as RE2
against fnmatch, byte literals, and rows nobody but exectrail should have written."""

from __future__ import annotations

import fnmatch
import random

import pytest

from exectrail.query.fleetsql import bytes_literal
from exectrail.warehouse.source import glob_regex, literal
from tests.support.cli import run_cli
from tests.support.paths import DATA
from tests.support.servers import ClickHouse

pytestmark = pytest.mark.server


def _random_text(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, size)))


def test_globs_match_as_fnmatch_does(clickhouse: ClickHouse) -> None:
    rng = random.Random(1509)
    pairs = []
    for _ in range(3000):
        pattern = _random_text(rng, "ab/.*?[]!-\\\né", 6)
        value = _random_text(rng, "ab/.-\\\n]!é", 6)
        pairs.append((pattern, value))
    pairs += [("/usr/*", "/usr/bin/ls"), ("/usr/*", "/tmp/x"), ("[!a]b", "cb"), ("[]]", "]"), ("a[", "a[")]
    answers: list[bool] = []
    for start in range(0, len(pairs), 500):  # match wants a constant pattern: one column per pair
        batch = pairs[start : start + 500]
        columns = ", ".join(f"match({literal(v)}, {literal('(?s)' + glob_regex(p))})" for p, v in batch)
        answers += [x == "1" for x in clickhouse.query(f"SELECT {columns}").strip().split("\t")]
    wrong = [(p, v) for (p, v), a in zip(pairs, answers, strict=True) if a != fnmatch.fnmatchcase(v, p)]
    assert not wrong, wrong[:10]


def test_byte_literals_are_exact(clickhouse: ClickHouse) -> None:
    samples = [bytes(range(256)), b"it's \\ a 'quote'", "café".encode(), b"\xff\xfe", b""]
    for sample in samples:
        assert clickhouse.query(f"SELECT hex({bytes_literal(sample)})").strip() == sample.hex().upper()


def test_rows_exectrail_did_not_write_are_one_line_errors(clickhouse: ClickHouse, tmp_path: object) -> None:
    table = "fleet_hostile"
    url = clickhouse.url(table=table)
    log = str(DATA / "workload_enriched.log")
    result = run_cli(
        ["review", log, "--format", "jsonl", "--sink", url, "--host-name", "h", "--spool", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stderr
    clickhouse.query(
        f"INSERT INTO default.{table} (id, host, type, time, body) VALUES "
        "('a1', 'h', 'alarm', now(), '{not json'), ('a2', 'h', 'alarm', now(), '[1, 2]'), "
        "('e1', 'h', 'exec', now(), '\"a string\"')"
    )
    try:
        for args in (["alarms"], ["search"], ["timeline", "--auid", "unset"]):
            result = run_cli([*args, "--from", url, "--host", "h", "--format", "jsonl"])
            assert result.exit_code == 2, (args, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "did not write" in lines[0], (args, result.stderr)
            assert "Traceback" not in result.stderr
    finally:
        clickhouse.query(f"DROP TABLE default.{table}")


def test_bytes_that_are_not_utf8_do_not_blind_the_fleet(clickhouse: ClickHouse, tmp_path: object) -> None:
    """A row written around the sink with raw bytes in a text column: shown with U+FFFD, the other
    rows still answered."""
    table = "fleet_bytes"
    url = clickhouse.url(table=table)
    log = str(DATA / "workload_enriched.log")
    args = ["--format", "jsonl", "--sink", url, "--host-name", "h", "--spool", str(tmp_path)]
    assert run_cli(["review", log, *args]).exit_code == 0
    clickhouse.query(
        f"INSERT INTO default.{table} (id, host, type, time, comm, argv) "
        "VALUES ('x1', 'h', 'exec', now(), 'zq\\xff', ['zq\\xfe'])"
    )
    try:
        result = run_cli(["search", "--from", url, "--host", "h", "--format", "jsonl"])
        assert result.exit_code == 0, result.stderr
        comms = [line for line in result.stdout.splitlines() if "zq" in line]
        assert len(result.stdout.splitlines()) == 230 and len(comms) == 1
        assert "zq\ufffd" in comms[0]  # orjson writes U+FFFD as itself
    finally:
        clickhouse.query(f"DROP TABLE default.{table}")


def test_hostile_host_names_and_words_are_values_not_sql(clickhouse: ClickHouse, tmp_path: object) -> None:
    """--host, --text, --comm and --argv-contains values that try to close the quote or comment the
    rest out select nothing, and change nothing."""
    table = "fleet_injection"
    url = clickhouse.url(table=table)
    log = str(DATA / "workload_enriched.log")
    args = ["--format", "jsonl", "--sink", url, "--host-name", "h", "--spool", str(tmp_path)]
    assert run_cli(["review", log, *args]).exit_code == 0
    hostile = ["h'OR'1'='1'--", "h\\'OR'1'='1", "h';DROP/**/TABLE/**/default.fleet_injection;--"]
    try:
        for value in hostile:
            for query in (
                ["search", "--host", value],
                ["search", "--host", "h", "--text", value],
                ["search", "--host", "h", "--comm", value],
                ["search", "--host", "h", "--argv-contains", value],
                ["report", "--host", value],
            ):
                result = run_cli([*query, "--from", url, "--format", "jsonl"])
                assert result.exit_code == 0, (query, result.stderr)
                assert '"type":"exec"' not in result.stdout, query
        assert int(clickhouse.query(f"SELECT count() FROM default.{table} WHERE type = 'exec'")) == 229
        spaced = run_cli(["search", "--host", "h' OR 1=1 --", "--from", url])
        assert spaced.exit_code == 2 and "--host wants a host name or a glob" in spaced.stderr
    finally:
        clickhouse.query(f"DROP TABLE default.{table}")
        clickhouse.query(f"DROP TABLE IF EXISTS default.{table}_words_mv")
        clickhouse.query(f"DROP TABLE IF EXISTS default.{table}_words")
