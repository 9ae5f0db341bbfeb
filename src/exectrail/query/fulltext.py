"""Full-text words matched as the store matches them, for a source without that index (the fleet).

The store answers ``search --text`` from SQLite FTS5 (``events_fts``). Rather than imitate its
tokenizer (``unicode61``: Unicode 6.1 tables, case folding, diacritics removed), :class:`TextMatcher`
asks FTS5 itself: candidate texts go into a private in-memory table defined exactly as the store's,
and the store's MATCH expression picks the hits. It also gives the tokens each word stands for, as
FTS5 folds them, for a source's cheap prefilter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from exectrail.query.search import fts_query
from exectrail.store.searchindex import fts_definition

_TABLE = "events_fts"


class TextMatcher:
    """The words of ``search --text`` (a :class:`UsageError` when none has a letter or digit)."""

    def __init__(self, words: Sequence[str]) -> None:
        self.query = fts_query(words)
        self._conn = sqlite3.connect(":memory:")
        self._conn.execute(fts_definition())
        self._conn.execute(f"CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, {_TABLE}, 'instance')")
        self.terms = self._terms(words)
        self.tokens = list(dict.fromkeys(token for token, _ in self.terms))

    def _terms(self, words: Sequence[str]) -> list[tuple[str, bool]]:
        """Every token of the words, folded as FTS5 folds them, each with whether it is a prefix
        (the last token of a word ending in ``*``), in order, each once."""
        out: dict[tuple[str, bool], None] = {}
        for text in words:
            for word in text.split():
                self._insert([word.rstrip("*")])
                found = [row[0] for row in self._conn.execute("SELECT term FROM temp.vocab ORDER BY offset")]
                for i, token in enumerate(found):
                    out[token, word.endswith("*") and i == len(found) - 1] = None
        return list(out)

    def _insert(self, texts: Sequence[str]) -> None:
        self._conn.execute(f"INSERT INTO {_TABLE}({_TABLE}) VALUES ('delete-all')")
        self._conn.executemany(
            f"INSERT INTO {_TABLE}(rowid, cmdline) VALUES (?, ?)", list(enumerate(texts, start=1))
        )

    def hits(self, texts: Sequence[str]) -> set[int]:
        """The indexes (from 0) of the texts the words match."""
        if not texts:
            return set()
        self._insert(texts)
        rows = self._conn.execute(f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ?", (self.query,))
        return {int(row[0]) - 1 for row in rows}

    def matches(self, text: str) -> bool:
        return 0 in self.hits([text])

    def close(self) -> None:
        self._conn.close()


__all__ = ["TextMatcher"]
