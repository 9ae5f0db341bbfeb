"""Does the full-text index (``events_fts``) hold exactly what the chained rows say?

``events_fts`` is a contentless FTS5 table: the hash chain does not cover it, so someone could wipe it
(``search --text`` then finds nothing) or remove one event's terms (that event is hidden from
``search --text``) without touching a chained row. The check, without any schema change:

1. a temporary FTS5 table with the same tokenizer is filled with the search text of every stored
   row (:func:`~exectrail.store.codec.search_text`, under the row's ``seq``) and merged into one
   segment (``optimize``);
2. a copy of the stored index's segments is made in a temporary FTS5 table, checked for internal
   consistency (FTS5 ``integrity-check``: the term lookup table ``events_fts_idx`` against the
   segments, which queries rely on) and merged the same way;
3. fast path: the two merged segments hold the same bytes -- the same entries. FTS5 does not always
   lay out the same entries the same way after different merge histories, so when they differ:
4. for each term, a fingerprint of its (row, position) entries on both sides: the sum over its
   entries of ``w(row) * (position + k) mod p``, with ``w`` a fresh random number per row and
   ``k`` random, drawn anew on every run (so no edit can be made to fit it in advance: two
   different sets of entries give the same sum with a chance of about 1 in 10^9 per term).
   Terms whose fingerprint or count differ are the edits; their rows are named (through
   ``fts5vocab``) to say which rows search would miss or return wrongly.

Measured on 100,000 stored events (4.5 million indexed words, CPU time): 1.0 s with the fast path,
2.9 s when the fingerprints are needed (the events chain itself: 1.1 s). Runs inside the caller's
read transaction; every table it makes is temporary and dropped.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator

from exectrail.store.codec import argv_line
from exectrail.store.schema import MIGRATIONS

_CREATE = "CREATE VIRTUAL TABLE events_fts USING "
_EXPECTED, _COPY = "exectrail_verify_expected", "exectrail_verify_copy"
_WEIGHTS = "exectrail_verify_weights"
_ROWS = "SELECT seq, argv, path FROM events ORDER BY seq"
_LIST_LIMIT = 5
_P = 2_147_483_629  # a prime below 2**31: products of two residues fit SQLite's 64-bit integers
_VOCABS = {  # temporary fts5vocab tables: name -> (schema, table, type)
    "exectrail_verify_stored_rows": ("temp", _COPY, "row"),
    "exectrail_verify_expected_rows": ("temp", _EXPECTED, "row"),
    "exectrail_verify_stored_instances": ("temp", _COPY, "instance"),
    "exectrail_verify_expected_instances": ("temp", _EXPECTED, "instance"),
}


def check_search_index(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """None when the index matches the stored rows; else ``(kind, what)``: kind ``wiped``,
    ``edited`` (entries added, removed or moved) or ``damaged`` (not a consistent index)."""
    try:
        return _check(conn)
    except sqlite3.DatabaseError as exc:
        return "damaged", f"missing or unreadable ({exc}): search --text cannot be trusted"
    finally:
        for name in (*_VOCABS, _EXPECTED, _COPY, _WEIGHTS):
            conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


def fts_definition() -> str:
    """The statement the migrations create ``events_fts`` with (the last one, should that change)."""
    made = [sql for m in MIGRATIONS for sql in m.statements if sql.startswith(_CREATE)]
    return made[-1]


def _check(conn: sqlite3.Connection) -> tuple[str, str] | None:
    found = conn.execute("SELECT sql FROM main.sqlite_master WHERE name = 'events_fts'").fetchone()
    if found is None:
        return "damaged", "missing: the events_fts table was dropped, search --text finds nothing"
    if found[0] != fts_definition():
        return (
            "damaged",
            "its definition was changed (another tokenizer or options): search --text cannot be trusted",
        )
    table = fts_definition().removeprefix(_CREATE)  # the same tokenizer and options for both copies
    conn.execute(f"CREATE VIRTUAL TABLE temp.{_EXPECTED} USING {table}")
    conn.executemany(f"INSERT INTO temp.{_EXPECTED} (rowid, cmdline) VALUES (?, ?)", _search_texts(conn))
    conn.execute(f"INSERT INTO temp.{_EXPECTED} ({_EXPECTED}) VALUES ('optimize')")
    conn.execute(f"CREATE VIRTUAL TABLE temp.{_COPY} USING {table}")
    for shadow in ("data", "idx"):
        conn.execute(f"DELETE FROM temp.{_COPY}_{shadow}")
        conn.execute(f"INSERT INTO temp.{_COPY}_{shadow} SELECT * FROM main.events_fts_{shadow}")
    try:
        conn.execute(f"INSERT INTO temp.{_COPY} ({_COPY}) VALUES ('integrity-check')")
    except sqlite3.DatabaseError:
        return "damaged", "inconsistent: its term lookup table or its segments were edited"
    conn.execute(f"INSERT INTO temp.{_COPY} ({_COPY}) VALUES ('optimize')")
    if _same_pages(conn, _COPY, _EXPECTED):
        return None
    for name, (schema, table, kind) in _VOCABS.items():
        conn.execute(f"CREATE VIRTUAL TABLE temp.{name} USING fts5vocab({schema}, {table}, {kind})")
    words = conn.execute("SELECT sum(cnt) FROM temp.exectrail_verify_expected_rows").fetchone()[0]
    if words and conn.execute("SELECT 1 FROM temp.exectrail_verify_stored_rows LIMIT 1").fetchone() is None:
        return "wiped", f"empty, but the stored events hold {words} words: search --text finds nothing"
    query = "SELECT term, doc, cnt FROM temp.{} ORDER BY term"  # rows holding a term, times it occurs
    differ = _differing(
        conn.execute(query.format("exectrail_verify_stored_rows")),
        conn.execute(query.format("exectrail_verify_expected_rows")),
    )
    if not differ:
        differ = _fingerprints_differ(conn)
    return None if not differ else _describe(conn, differ)


def row_search_text(argv: object, path: object) -> str | None:
    """:func:`~exectrail.store.codec.search_text` of a stored row, from its ``argv`` and ``path``
    columns (without building the event); None for values exectrail never stores (edited rows)."""
    if isinstance(argv, bytes):
        line = argv_line(argv)
        return None if line is None else line.decode("utf-8", "replace")
    if argv is not None:
        return None
    if isinstance(path, bytes):
        return path.decode("utf-8", "replace")
    if isinstance(path, str):
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "" if path is None else None


def _search_texts(conn: sqlite3.Connection) -> Iterator[tuple[int, str]]:
    for seq, argv, path in conn.execute(_ROWS):
        try:
            text = row_search_text(argv, path)
        except (ValueError, UnicodeError):
            text = None
        if text is not None:  # else a row edited into nonsense: the chain names it
            yield seq, text


def _same_pages(conn: sqlite3.Connection, one: str, other: str) -> bool:
    """Whether two merged segments hold the same pages (ids 1 and 10 hold totals and the segment
    list), read side by side a few pages at a time (an index can be gigabytes)."""
    query = "SELECT block FROM temp.{}_data WHERE id > 10 ORDER BY id"
    a, b = conn.execute(query.format(one)), conn.execute(query.format(other))
    while True:
        pages = a.fetchmany(64)
        if pages != b.fetchmany(64):
            return False
        if not pages:
            return True


def _differing(one: sqlite3.Cursor, other: sqlite3.Cursor, limit: int = 200) -> list[str]:
    """The first ``limit`` terms whose rows differ between two results ordered by term (term
    first), read side by side (an index can hold millions of terms)."""
    out: list[str] = []
    a, b = next(one, None), next(other, None)
    while (a is not None or b is not None) and len(out) < limit:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            out.append(a[0])
            a = next(one, None)
        elif a is None or b[0] < a[0]:
            out.append(b[0])
            b = next(other, None)
        else:
            if a != b:
                out.append(a[0])
            a, b = next(one, None), next(other, None)
    return out


def _fingerprints_differ(conn: sqlite3.Connection) -> list[str]:
    """Terms whose (row, position) entries differ (see the module docstring, step 4)."""
    conn.execute(f"CREATE TABLE temp.{_WEIGHTS} (doc INTEGER PRIMARY KEY, w INTEGER NOT NULL)")
    conn.executemany(
        f"INSERT INTO temp.{_WEIGHTS} VALUES (?, ?)",
        ((seq, 1 + secrets.randbelow(_P - 1)) for (seq,) in conn.execute("SELECT seq FROM events")),
    )
    k, stray = secrets.randbelow(_P), 1 + secrets.randbelow(_P - 1)
    weight = f"ifnull(w.w, (i.doc % {_P}) * {stray} % {_P})"  # a row not stored: still some weight

    def fingerprints(vocab: str) -> sqlite3.Cursor:
        return conn.execute(
            f"SELECT term, count(*), sum(({weight} * (i.offset + {k})) % {_P}) FROM temp.{vocab} AS i "
            f"LEFT JOIN temp.{_WEIGHTS} AS w ON w.doc = i.doc GROUP BY i.term ORDER BY i.term"
        )

    return _differing(
        fingerprints("exectrail_verify_stored_instances"), fingerprints("exectrail_verify_expected_instances")
    )


def _describe(conn: sqlite3.Connection, terms: list[str]) -> tuple[str, str]:
    """Which rows the stored index has wrong (the first ``terms`` that differ), in the user's words."""
    found: dict[str, dict[int, list[str]]] = {"missing": {}, "extra": {}, "moved": {}}
    for term in terms:
        want = _entries(conn, "exectrail_verify_expected_instances", term)
        have = _entries(conn, "exectrail_verify_stored_instances", term)
        for what, docs in (
            ("missing", want.keys() - have.keys()),
            ("extra", have.keys() - want.keys()),
            ("moved", {d for d in want.keys() & have.keys() if want[d] != have[d]}),
        ):
            for doc in docs:
                found[what].setdefault(doc, []).append(term)
        if sum(len(rows) for rows in found.values()) >= _LIST_LIMIT:
            break
    parts = [
        f"{label} {_listed(found[what])}"
        for what, label in (
            ("missing", "search --text misses"),
            ("extra", "search --text finds words a row does not hold:"),
            ("moved", "words at other positions than stored:"),
        )
        if found[what]
    ]
    return "edited", "; ".join(parts) or "its entries differ from what the stored events give"


def _listed(rows: dict[int, list[str]]) -> str:
    """``row 57 ('bin', 'ls'), row 58 ('cat')``."""
    shown = []
    for doc, terms in sorted(rows.items())[:_LIST_LIMIT]:
        words = ", ".join(repr(t) for t in terms[:3]) + (", …" if len(terms) > 3 else "")
        shown.append(f"row {doc} ({words})")
    return ", ".join(shown) + (", …" if len(rows) > _LIST_LIMIT else "")


def _entries(conn: sqlite3.Connection, vocab: str, term: str) -> dict[int, set[int]]:
    """Row -> positions of ``term`` in it."""
    out: dict[int, set[int]] = {}
    for doc, offset in conn.execute(f"SELECT doc, offset FROM temp.{vocab} WHERE term = ?", (term,)):
        out.setdefault(doc, set()).add(offset)
    return out
