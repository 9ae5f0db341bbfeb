"""Full-text words as the store's index reads them, for sources without that index (the fleet).

The store matches ``search --text`` with SQLite FTS5's ``unicode61`` tokenizer: a token is a run of
letters, digits and private-use characters; tokens are compared case-folded with Latin diacritics
removed; every whitespace-separated word of the query is a phrase of the tokens it holds, which must
occur next to each other, and a trailing ``*`` makes the phrase's last token a prefix. This module
applies the same rule in Python, so the fleet answers ``--text`` as the store does; the tests check
it against SQLite itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from exectrail.errors import UsageError

_TOKEN_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Co"})


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """One character as unicode61 compares it ('' for a separator)."""
    if ch.isascii():
        return ch.lower() if ch.isalnum() else ""
    if unicodedata.category(ch) not in _TOKEN_CATEGORIES:
        return "" if unicodedata.category(ch) != "Mn" else "\0"  # a lone mark: part of the token, dropped
    base = unicodedata.normalize("NFD", ch)
    kept = "".join(c for c in base if unicodedata.category(c) != "Mn") or ch
    return kept.lower() if len(kept) == 1 else ch.lower()


def tokens(text: str) -> list[str]:
    """The tokens of ``text``, folded."""
    out: list[str] = []
    current: list[str] = []
    for ch in text:
        folded = _fold(ch)
        if folded:
            if folded != "\0":
                current.append(folded)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


@dataclass(frozen=True)
class Phrase:
    """Tokens that must occur in a row; the last one a prefix when ``prefix``."""

    words: tuple[str, ...]
    prefix: bool

    def found_in(self, have: Sequence[str]) -> bool:
        n = len(self.words)
        last = n - 1
        for start in range(len(have) - n + 1):
            if all(
                have[start + i] == w or (self.prefix and i == last and have[start + i].startswith(w))
                for i, w in enumerate(self.words)
            ):
                return True
        return False


def phrases(words: Sequence[str]) -> list[Phrase]:
    """The phrases of ``search --text`` arguments (the store's ``fts_query`` reads them the same way)."""
    out = []
    for text in words:
        for word in text.split():
            prefix = word.endswith("*")
            core = word.rstrip("*")
            if not any(ch.isalnum() for ch in core):
                continue
            found = tokens(core)
            if found:
                out.append(Phrase(tuple(found), prefix))
    if not out:
        raise UsageError("--text needs at least one word with letters or digits")
    return out


def matches(wanted: Sequence[Phrase], text: str) -> bool:
    """Whether every phrase occurs in ``text``."""
    have = tokens(text)
    return all(p.found_in(have) for p in wanted)


__all__ = ["Phrase", "matches", "phrases", "tokens"]
