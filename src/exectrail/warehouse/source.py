"""The fleet as a query source: one ClickHouse table, optionally narrowed to some hosts.

Values go into SQL as quoted literals (:func:`literal`); host patterns are shell globs
(``web*``, ``db[12]``) matched against the whole host name. Rows come back as ``JSONEachRow``
objects; a row that is not one (a damaged table, a proxy in between) is a :class:`WarehouseError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from exectrail.warehouse.client import ClickHouseClient, WarehouseError

#: Output settings every read uses: 64-bit integers as numbers, not strings.
READ_SETTINGS = {"output_format_json_quote_64bit_integers": 0}


def literal(value: str) -> str:
    """``value`` as a ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def glob_regex(pattern: str) -> str:
    """A shell glob (``*``, ``?``, ``[…]``) as an anchored RE2 pattern."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif (
            ch == "["
            and (end := pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)) > 0
        ):
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def text_condition(column: str, patterns: Sequence[str]) -> str:
    """SQL true when ``column`` equals one of ``patterns`` (globs match the whole value)."""
    parts = [
        f"match({column}, {literal(glob_regex(p))})" if is_glob(p) else f"{column} = {literal(p)}"
        for p in patterns
    ]
    return "(" + " OR ".join(parts) + ")"


@dataclass
class Fleet:
    """``table`` (``DATABASE.NAME``) on the server of ``client``; ``hosts``: glob patterns, () = all."""

    client: ClickHouseClient
    table: str
    hosts: tuple[str, ...] = ()

    def host_condition(self) -> str:
        """The SQL condition selecting :attr:`hosts` (``1`` when all)."""
        return text_condition("host", self.hosts) if self.hosts else "1"

    def rows(self, sql: str) -> Iterator[dict[str, Any]]:
        """The objects of ``sql`` (which must not say FORMAT): read as ``JSONEachRow``."""
        reply = self.client.query(sql + " FORMAT JSONEachRow", None, **READ_SETTINGS)
        for line in reply.splitlines():
            if not line:
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise WarehouseError(
                    f"ClickHouse at {self.client.where} sent a row that is not JSON"
                ) from None
            if not isinstance(row, dict):
                raise WarehouseError(f"ClickHouse at {self.client.where} sent a row that is not an object")
            yield row

    def exists(self) -> bool:
        """Whether the table exists (a fleet nobody forwarded to yet has none)."""
        database, _, name = self.table.partition(".")
        sql = (
            "SELECT count() AS n FROM system.tables "
            f"WHERE database = {literal(database)} AND name = {literal(name)}"
        )
        return any(row.get("n") for row in self.rows(sql))

    def close(self) -> None:
        self.client.close()


__all__ = ["Fleet", "glob_regex", "is_glob", "literal", "text_condition"]
