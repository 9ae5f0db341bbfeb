"""Which rows of the fleet may hold the words of ``search --text``: the word index when it has them.

The fleet table has a word index beside it (:func:`~exectrail.warehouse.table.words_ddl`: one row per
word and exec row, ordered by word, host, time). Its rows for a word are a range of that order, so
the rarest of the query's words names few candidates at once, whatever the fleet's size; rows are
then checked exactly (the filter, SQLite FTS5) as any other. A word that is not rare names millions
of rows: asked with ``--limit``, the index still gives the first ones in time order (:class:`TopWords`);
without, the command lines are scanned. Without an index (a table no sink of this version wrote to
yet), the scan too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from exectrail.filters import EventFilter
from exectrail.query.fleetsql import ms_range, second_bounds
from exectrail.warehouse.source import Fleet, literal
from exectrail.warehouse.table import words_table

#: At most this many index rows for the rarest word: all of them are the candidates.
RARE = 200_000


def _term_condition(token: str, prefix: bool) -> str:
    if not prefix:
        return f"word = {literal(token)}"
    after = token[:-1] + chr(ord(token[-1]) + 1) if ord(token[-1]) < 0x10FFFF else None
    upper = f" AND word < {literal(after)}" if after else ""
    return f"word >= {literal(token)}{upper}"  # a range of the index's order


@dataclass(frozen=True)
class Driver:
    """The rarest word's rows in the index (``where``: over the index table) and how many."""

    fleet: Fleet
    table: str
    where: str
    rows: int

    def candidates(self, limit: int | None = None, descending: bool = False, within: str = "") -> str:
        """A condition on the fleet table: the row is among the word's (the first ``limit`` in time
        order; ``within``: a further condition on the index's ``time``)."""
        order = ""
        if limit is not None:
            d = " DESC" if descending else ""
            order = f" ORDER BY time{d}, host{d}, id{d} LIMIT {int(limit)}"
        where = self.where + (f" AND {within}" if within else "")
        return f"(host, time, id) IN (SELECT host, time, id FROM {self.table} WHERE {where}{order})"

    def second_at(self, rank: int, descending: bool = False, within: str = "") -> int | None:
        """The time (epoch seconds) of the word's ``rank``-th row in time order (from 0; among those
        ``within`` says); None past the last."""
        d = " DESC" if descending else ""
        where = self.where + (f" AND {within}" if within else "")
        sql = f"SELECT toUInt32(time) AS t FROM {self.table} WHERE {where} ORDER BY time{d}"
        sql += f" LIMIT {int(rank)}, 1"
        found = [row["t"] for row in self.fleet.rows(sql)]
        return int(found[0]) if found else None


def driver(fleet: Fleet, terms: Sequence[tuple[str, bool]], f: EventFilter) -> Driver | None:
    """The index rows of the rarest of ``terms`` within the fleet's hosts and the filter's time range;
    None without an index."""
    if not terms or not fleet.has_words():
        return None
    table = words_table(fleet.table)
    narrow = [fleet.host_condition(), *second_bounds(*ms_range(f))]
    best: Driver | None = None
    for token, prefix in terms:
        where = " AND ".join([_term_condition(token, prefix), *narrow])
        (row,) = fleet.rows(f"SELECT count() AS n FROM {table} WHERE {where}")
        found = Driver(fleet, table, where, int(row["n"]))
        if best is None or found.rows < best.rows:
            best = found
    return best


def windows(drive: Driver, size: int, descending: bool = False) -> Iterator[str]:
    """Conditions on ``time`` that cut the word's rows into windows of whole seconds holding about
    ``size`` rows each (more when one second holds more), in time order: every match of a common
    word, read a window at a time so that no single query sorts them all."""
    bound: int | None = None  # the first second not yet read (the last, newest first)
    while True:
        beyond = "" if bound is None else f"time {'<=' if descending else '>='} toDateTime({bound})"
        edge = drive.second_at(size, descending, beyond)
        if edge is None:
            yield beyond or "1"
            return
        if edge == bound:  # one second holds more than ``size`` rows: it is a window of its own
            yield f"time = toDateTime({edge})"
            bound = edge - 1 if descending else edge + 1
            continue
        upto = f"time {'>' if descending else '<'} toDateTime({edge})"
        yield f"{beyond} AND {upto}" if beyond else upto
        bound = edge


__all__ = ["RARE", "Driver", "driver", "windows"]
