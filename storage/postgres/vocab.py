"""The PostgreSQL archive's index tokens: the `tsvector` values of an article, built from the same stems the
SQLite ranking index holds, and the `article_vocab` table of document frequencies.

Why the vectors are built here, not by `to_tsvector`: PostgreSQL's parser does not split text the way the
stemmer's tokenizer (bot.archive.morphology) and SQLite's unicode61 do — `to_tsvector('simple', ...)` keeps
`v1.2` whole and gives `а-б`, `а`, `б` for `а-б` (the stems hold `v1 2`, `а б`), drops `½` and `²` (tokens
here), and its idea of a letter follows the database's locale. So the lexemes are the stems themselves, written
as a `tsvector` literal (quoted and escaped; the cast reads them as they are, no parser, no dictionary).

Layout of `search` (weights: title A, lead B, topic tags C, body D; tsquery.TITLE ...): tags, title, lead, body
at consecutive positions, one position left empty between columns so that a phrase never spans two columns
(as in the SQLite ranking index). `head` holds the title and the lead only (small, so ranking reads it
cheaply). PostgreSQL keeps positions up to 16383 and at most 256 per lexeme and drops the rest silently,
which would lose phrases in long articles; an article that does not fit is "long": its `search` vector holds
its lexemes without positions and `long_stems` its stems text, where phrases are looked up as substrings
(tsquery.needle). Lexemes over PostgreSQL's 2046-byte limit (never a query word: those stop at 64 characters)
are left out, as are lexemes past the 1 MB a vector can hold.

`article_vocab` (token → articles whose `search` holds it) is kept up to date by add_many in its transaction;
the document frequencies of ranking and of "did you mean" are seeks in its primary key, whatever the size of
the archive (ts_stat would read every vector)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.archive.morphology import StemmedArticle
from storage.postgres.database import Connection, PgDatabase
from storage.postgres.tsquery import BODY, LEAD, TAGS, TITLE

MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
MAX_POSITIONS_PER_LEXEME = 256
MAX_LEXEME_BYTES = 2046
MAX_VECTOR_LEXEME_BYTES = (1 << 20) - 1 - 4096  # the lexemes of one vector, with room to spare


@dataclass(frozen=True, slots=True)
class ArticleVectors:
    """The index values of one article: `search` and `head` tsvector literals, the stems text of a long
    article (else None), and the distinct lexemes of `search` (for article_vocab)."""

    search: str
    head: str
    long_stems: str | None
    lexemes: frozenset[str]


def _quoted(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _positions(columns: Sequence[tuple[list[str], str]]) -> tuple[dict[str, list[str]], bool]:
    """token → its "position+weight" entries (weight D is written as no letter), and whether it all fit."""
    entries: dict[str, list[str]] = {}
    position = 0
    fits = True
    budget = MAX_VECTOR_LEXEME_BYTES
    for tokens, weight in columns:
        position += 1  # the empty position between columns
        suffix = "" if weight == BODY else weight
        for token in tokens:
            position += 1
            found = entries.get(token)
            if found is None:
                size = len(token.encode())
                if size > MAX_LEXEME_BYTES or size + 8 > budget:
                    continue
                budget -= size + 8
                entries[token] = found = []
            if position > MAX_POSITION or len(found) >= MAX_POSITIONS_PER_LEXEME:
                fits = False
                continue
            found.append(f"{position}{suffix}")
    return entries, fits


def _literal(entries: dict[str, list[str]], *, with_positions: bool = True) -> str:
    if with_positions:
        return " ".join(
            f"{_quoted(token)}:{','.join(places)}" if places else _quoted(token)
            for token, places in entries.items()
        )
    return " ".join(_quoted(token) for token in entries)


def _split(text: str) -> list[str]:
    return text.split()


def long_stems_text(columns: Sequence[list[str]]) -> str:
    """The stems of a long article, columns separated by a line break: a phrase needle (' a b ') matches
    consecutive tokens of one column only."""
    return " " + " \n ".join(" ".join(tokens) for tokens in columns) + " "


def article_vectors(stemmed: StemmedArticle, tags: Sequence[str]) -> ArticleVectors:
    title, lead, body = _split(stemmed.title), _split(stemmed.lead), _split(stemmed.body)
    columns = [(list(tags), TAGS), (title, TITLE), (lead, LEAD), (body, BODY)]
    entries, fits = _positions(columns)
    head, _ = _positions([(title, TITLE), (lead, LEAD)])
    # Head positions past the limits only cost ranking a title or lead word there (a title of 16000 words).
    return ArticleVectors(
        search=_literal(entries, with_positions=fits),
        head=_literal({token: places for token, places in head.items() if places}),
        long_stems=None if fits else long_stems_text([list(tags), title, lead, body]),
        lexemes=frozenset(entries),
    )


# --- article_vocab -----------------------------------------------------------------------------------------

_ADD_TOKENS = (
    "INSERT INTO article_vocab (token, docs)"
    " SELECT token, docs FROM unnest($1::text[], $2::integer[]) AS t(token, docs) ORDER BY token"
    " ON CONFLICT (token) DO UPDATE SET docs = article_vocab.docs + EXCLUDED.docs"
)


async def count_tokens(conn: Connection, vectors: Sequence[ArticleVectors]) -> None:
    """Add the lexemes of newly stored articles to article_vocab, and the articles to article_count (inside
    add_many's transaction, which holds the archive write lock: no other writer waits on these rows)."""
    counts: Counter[str] = Counter()
    for vector in vectors:
        counts.update(vector.lexemes)
    tokens = sorted(counts)
    if tokens:
        await conn.execute(_ADD_TOKENS, tokens, [counts[token] for token in tokens])
    await conn.execute("UPDATE article_count SET articles = articles + $1", len(vectors))


async def document_frequencies(db: PgDatabase, tokens: Sequence[str]) -> dict[str, int]:
    """token → number of articles whose index holds it; tokens in no article are left out. One array
    parameter, one index seek per token."""
    unique = sorted(set(tokens))
    if not unique:
        return {}
    rows = await db.fetch(
        "SELECT token, docs FROM article_vocab WHERE token = ANY($1::text[]) AND docs > 0", unique
    )
    return {str(row["token"]): int(row["docs"]) for row in rows}
