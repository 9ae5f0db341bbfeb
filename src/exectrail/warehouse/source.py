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

from exectrail.warehouse.client import ClickHouseClient, WarehouseError, literal
from exectrail.warehouse.table import table_exists, words_table

#: Output settings every read uses: 64-bit integers as numbers, not strings.
READ_SETTINGS = {"output_format_json_quote_64bit_integers": 0}


def glob_regex(pattern: str) -> str:
    """A shell glob as an anchored RE2 pattern meaning what ``fnmatch.fnmatchcase`` means (a port of
    Python 3.11's ``fnmatch.translate``, without its lookarounds, which RE2 lacks)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
            else:
                out.append(_char_class(pattern, i, j))
                i = j + 1
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


def _char_class(pattern: str, i: int, j: int) -> str:
    """``pattern[i:j]``, the inside of a glob's ``[...]``, as an RE2 class (ranges running backwards
    are dropped, as fnmatch drops them)."""
    if "-" not in pattern[i:j]:
        chunks = [pattern[i:j]]
    else:
        chunks = []
        k = i + 2 if pattern[i] == "!" else i + 1
        while (k := pattern.find("-", k, j)) >= 0:
            chunks.append(pattern[i:k])
            i = k + 1
            k += 3
        if chunk := pattern[i:j]:
            chunks.append(chunk)
        else:
            chunks[-1] += "-"
        for k in range(len(chunks) - 1, 0, -1):
            if chunks[k - 1][-1] > chunks[k][0]:
                chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
                del chunks[k]
    negate = bool(chunks) and chunks[0].startswith("!")
    if negate:
        chunks[0] = chunks[0][1:]
    inside = "-".join("".join(_class_char(c) for c in chunk) for chunk in chunks)
    if not inside:
        return "." if negate else "\\b\\B"  # [!] is any character; [] none
    return "[" + ("^" if negate else "") + inside + "]"


def _class_char(ch: str) -> str:
    return "\\" + ch if ch in "\\[]^-" else ch


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
            except orjson.JSONDecodeError:  # bytes that are not UTF-8 (a row someone else wrote)
                try:
                    row = orjson.loads(line.decode("utf-8", "replace"))
                except orjson.JSONDecodeError:
                    raise WarehouseError(
                        f"ClickHouse at {self.client.where} sent a row that is not JSON"
                    ) from None
            if not isinstance(row, dict):
                raise WarehouseError(f"ClickHouse at {self.client.where} sent a row that is not an object")
            yield row

    def exists(self) -> bool:
        """Whether the table exists (a fleet nobody forwarded to yet has none)."""
        return table_exists(self.client, self.table)

    def has_words(self) -> bool:
        """Whether the table has its word index (tables made before exectrail 15's sink have not,
        until a sink of this version forwards to them)."""
        return table_exists(self.client, words_table(self.table))

    def close(self) -> None:
        self.client.close()


__all__ = ["Fleet", "glob_regex", "is_glob", "literal", "text_condition"]
