"""The raw SQL of the fleet's questions, timed in variants on the loaded table (bench/fleet.py --sql).

Each figure is the median of ``repeat`` runs over HTTP (what a query command pays, less its start-up),
with the rows or the count it returned. Variants: the word over the command line three ways
(``arrayStringConcat`` + ``positionCaseInsensitiveUTF8``, ``arrayExists`` over the arguments, and a
``MATERIALIZED`` lowercase ``cmdline`` column in a copy of the table, whose insert cost is timed too),
WHERE (with and without the server moving it to PREWHERE) against an explicit PREWHERE, one host
against the whole fleet; the tree's lookups by (host, pid) and (host, ppid); the last heartbeat of
every host (``argMax`` … ``GROUP BY host``); and what ``FINAL`` adds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from exectrail.warehouse.client import ClickHouseClient
from exectrail.warehouse.source import literal
from fleet_data import COMMON_WORD, Fleet, host_name, rare_word

CMDLINE = "cmdline String MATERIALIZED lowerUTF8(arrayStringConcat(argv, ' '))"
NO_PREWHERE = {"optimize_move_to_prewhere": 0}
SECTIONS = ("words", "tree", "heartbeats")
SLOW = 1  # runs of a whole-table FINAL read of every column (over a minute each on 10M rows)


class Timer:
    """Runs statements ``repeat`` times; each figure goes to ``say`` as one line and into ``figures``."""

    def __init__(self, client: ClickHouseClient, repeat: int, say: Callable[[str], None]) -> None:
        self.client, self.repeat, self.say = client, repeat, say
        self.figures: dict[str, Any] = {}

    def __call__(self, label: str, sql: str, repeat: int | None = None, **settings: object) -> float:
        times, reply = [], b""
        repeat = repeat or self.repeat
        for _ in range(repeat):
            start = time.perf_counter()
            reply = self.client.query(sql + " FORMAT TabSeparated", None, **settings)
            times.append(time.perf_counter() - start)
        lines = reply.splitlines()
        answer = lines[0].decode() if len(lines) == 1 and len(lines[0]) < 30 else f"{len(lines)} rows"
        median = statistics.median(times)
        self.figures[label] = {"median_ms": median * 1e3, "best_ms": min(times) * 1e3, "answer": answer,
                               "sql": sql, **({"settings": settings} if settings else {})}  # fmt: skip
        extra = f" [{', '.join(f'{k}={v}' for k, v in settings.items())}]" if settings else ""
        self.say(f"- {label}: {median * 1e3:.0f} ms median of {repeat} ({answer}){extra}: `{sql}`")
        return median

    def once(self, label: str, sql: str) -> float:
        start = time.perf_counter()
        self.client.query(sql)
        seconds = time.perf_counter() - start
        self.figures[label] = {"seconds": seconds, "sql": sql}
        self.say(f"- {label}: {seconds:.1f} s: `{sql}`")
        return seconds


def word_conditions(word: str) -> dict[str, str]:
    w = literal(word)
    return {
        "concat": f"positionCaseInsensitiveUTF8(arrayStringConcat(argv, ' '), {w}) > 0",
        "arrayExists": f"arrayExists(a -> positionCaseInsensitiveUTF8(a, {w}) > 0, argv)",
        "cmdline": f"position(cmdline, {literal(word.lower())}) > 0",
    }


def measure_sql(
    client: ClickHouseClient, table: str, fleet: Fleet, hosts: int, rounds: int, repeat: int,
    say: Callable[[str], None], sections: tuple[str, ...] = SECTIONS,
) -> dict[str, Any]:  # fmt: skip
    """Time the variants on ``table`` (a copy with the ``cmdline`` column is made, then dropped)."""
    t = Timer(client, repeat, say)
    h, r = hosts // 2, rounds // 2
    host = literal(host_name(h))
    parts = client.query(f"SELECT count() FROM system.parts WHERE active AND table = {literal(table)}")
    say(f"SQL over {table}: {int(parts)} active parts; {host_name(h)} asked; median of {repeat}, HTTP")
    for scratch in (f"{table}_cmdline", f"{table}_plain"):  # left by an interrupted run
        client.query(f"DROP TABLE IF EXISTS {scratch}")
    if "words" in sections:
        words(t, client, table, fleet, h, r)
    if "tree" in sections:
        pid, _ = fleet.tree_question(h, r)
        for column in ("pid", "ppid"):
            where = f"host = {host} AND {column} = {pid}"
            t(f"tree lookup {column}", f"SELECT * FROM {table} WHERE {where}")
            t(f"tree lookup {column}, FINAL", f"SELECT * FROM {table} FINAL WHERE {where}")
    if "heartbeats" in sections:
        beats = "SELECT host, max(time), argMax(body, time) FROM {table} {clause} type = 'heartbeat'"
        beats += " GROUP BY host"
        t("last heartbeat per host, WHERE", beats.format(table=table, clause="WHERE"))
        t("last heartbeat per host, PREWHERE", beats.format(table=table, clause="PREWHERE"))
        t("last heartbeat per host, FINAL", beats.format(table=f"{table} FINAL", clause="WHERE"))
        t("events per host", f"SELECT host, count() FROM {table} WHERE type = 'exec' GROUP BY host")
    return t.figures


def words(t: Timer, client: ClickHouseClient, table: str, fleet: Fleet, h: int, r: int) -> None:
    """The word over the command line: three expressions, WHERE/PREWHERE, one host/the fleet, FINAL."""
    host = literal(host_name(h))
    t("count all rows", f"SELECT count() FROM {table}")
    t("count all rows FINAL", f"SELECT count() FROM {table} FINAL")

    copy, plain = f"{table}_cmdline", f"{table}_plain"
    for name in (copy, plain):
        client.query(f"DROP TABLE IF EXISTS {name}")
        client.query(f"CREATE TABLE {name} AS {table}")
    client.query(f"ALTER TABLE {copy} ADD COLUMN {CMDLINE}")
    t.once("copy the rows (INSERT SELECT) into a plain table", f"INSERT INTO {plain} SELECT * FROM {table}")
    t.once("copy the rows into a table with the cmdline column", f"INSERT INTO {copy} SELECT * FROM {table}")
    client.query(f"DROP TABLE {plain}")

    for kind, word in (("rare", rare_word(fleet.questions.base_rare, h, r)), ("common", COMMON_WORD)):
        for how, cond in word_conditions(word).items():
            source = copy if how == "cmdline" else table
            for scope, where in (("fleet", cond), ("one host", f"host = {host} AND {cond}")):
                t(f"{kind} word, {how}, {scope}, count", f"SELECT count() FROM {source} WHERE {where}")
        rows = "" if kind == "rare" else " ORDER BY time LIMIT 100"
        for how, cond in word_conditions(word).items():
            source = copy if how == "cmdline" else table
            select = f"SELECT * FROM {source}"
            t(f"{kind} word, {how}, rows, WHERE (auto PREWHERE)", f"{select} WHERE {cond}{rows}")
            t(f"{kind} word, {how}, rows, WHERE", f"{select} WHERE {cond}{rows}", **NO_PREWHERE)
            t(f"{kind} word, {how}, rows, PREWHERE", f"{select} PREWHERE {cond}{rows}")
        concat = word_conditions(word)["concat"]
        t(f"{kind} word, concat, rows, FINAL", f"SELECT * FROM {table} FINAL WHERE {concat}{rows}", SLOW)
    client.query(f"DROP TABLE {copy}")


__all__ = ["CMDLINE", "SECTIONS", "measure_sql"]
