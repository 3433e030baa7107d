"""Document frequencies of index tokens, from the `articles_vocab` fts5vocab table (migration m0004).

`term = ?` on an fts5vocab table is a seek in the FTS5 index, so an IN list costs one seek per token, whatever
the size of the archive. Tokens go in chunks of bound parameters (never into the SQL text)."""

from __future__ import annotations

from collections.abc import Sequence

from storage.sqlite.database import Database

CHUNK = 500  # bound parameters per statement, well under SQLite's limit


async def document_frequencies(db: Database, tokens: Sequence[str]) -> dict[str, int]:
    """token → number of articles whose index contains it; tokens in no article are left out."""
    unique = sorted(set(tokens))
    found: dict[str, int] = {}
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        placeholders = ", ".join("?" * len(chunk))
        rows = await db.fetchall(
            f"SELECT term, doc FROM articles_vocab WHERE term IN ({placeholders})",  # noqa: S608
            chunk,
        )
        found.update((str(row[0]), int(row[1])) for row in rows)
    return found
