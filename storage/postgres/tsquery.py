"""The PostgreSQL backend's compiler from a parsed `SearchQuery` to `tsquery` values, and the search statements
around them (storage/postgres/articles.py runs them; every value is a bound parameter, cast with `::tsquery`).

User text never becomes tsquery syntax: the tsquery text is written here from the query's stemmed tokens
(bot.archive.query.unit_tokens / word_tokens), each one a quoted, escaped lexeme, joined by operators written
here. The cast reads a quoted lexeme as it is (no parser, no dictionary), so a lexeme of the query is exactly
the token the index holds (storage/postgres/vocab.py builds the vectors from the same tokens) — the same tokens
the SQLite ranking index holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.archive.query import SearchQuery, unit_families, unit_tokens, word_family, word_tokens

# Weights of the index vectors (storage/postgres/vocab.py): title A, lead B, topic tags C, body D.
TITLE, LEAD, TAGS, BODY = "A", "B", "C", "D"


def topic_tag(topic: str) -> str:
    """The index token of a topic: the same as storage/search_index.topic_tag (tests/storage check it)."""
    return "topic" + re.sub(r"[^0-9a-z]", "", topic.lower())


def lexeme(token: str, weight: str = "") -> str:
    """One quoted tsquery lexeme (optionally restricted to a weight). Quotes and backslashes are escaped,
    although index tokens (letters and digits) never hold them."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'" + (f":{weight}" if weight else "")


def phrase(tokens: list[str], weight: str = "") -> str:
    """Tokens next to each other in this order (one token: just the lexeme)."""
    text = " <-> ".join(lexeme(token, weight) for token in tokens)
    return f"({text})" if len(tokens) > 1 else text


def either(family: tuple[str, ...], weight: str = "") -> str:
    """Any stem of a word's family (bot.archive.morphology.stem_family)."""
    text = " | ".join(lexeme(stem, weight) for stem in family)
    return f"({text})" if len(family) > 1 else text


def unit_query(tokens: list[str], family: tuple[str, ...], weight: str = "") -> str:
    """A word by its family, a phrase (or hyphenated word) by its stems in order."""
    return either(family, weight) if family else phrase(tokens, weight)


def needle(tokens: list[str]) -> str:
    """A phrase as a substring of a long article's stems text (vocab.long_stems_text): ' a b '."""
    return " " + " ".join(tokens) + " "


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """What storage/postgres/articles.py binds for one search.

    `exact`: every condition (phrases with <->). `loose`: the same with phrases as plain conjunctions of their
    words and excluded phrases left out — what a long article (no positions in its vector, see vocab.py) is
    matched with before its `needles` (phrases that must occur) and `avoid` (excluded phrases) are looked up
    in its stems text; None when the query has no phrase, then `exact` alone decides.
    `units`: the index tokens of each word and phrase (bot.archive.query.unit_tokens); `title_queries` and
    `lead_queries`: for each unit, the tsquery that finds it in the title or the lead (the `head` vector);
    `tags`: the topic filter tokens (any of them must occur)."""

    exact: str
    loose: str | None
    needles: list[str]
    avoid: list[str]
    units: list[list[str]]
    title_queries: list[str]
    lead_queries: list[str]
    tags: list[str]

    @property
    def words(self) -> list[str]:
        """The distinct tokens of the units, sorted (their document frequencies weigh the units)."""
        return sorted({token for tokens in self.units for token in tokens})


def compile_query(query: SearchQuery) -> CompiledQuery | None:
    """The tsqueries of `query`, or None when there is nothing to match (no word and no phrase)."""
    if query.is_empty:
        return None
    units = unit_tokens(query)
    if not units:
        return None
    families = unit_families(query)
    excluded = [
        (tokens, word_family(word)) for word in query.excluded if (tokens := word_tokens(word.split(" ")))
    ]
    tags = [topic_tag(topic) for topic in sorted(query.topics)]
    filters = ["(" + " | ".join(lexeme(tag) for tag in tags) + ")"] if tags else []
    exact = " & ".join([unit_query(t, f) for t, f in zip(units, families, strict=True)] + filters)
    exact += "".join(f" & !{unit_query(tokens, family)}" for tokens, family in excluded)
    has_phrases = any(len(tokens) > 1 for tokens in units + [tokens for tokens, _ in excluded])
    loose = None
    if has_phrases:
        words = [
            either(f) if f else lexeme(token) for t, f in zip(units, families, strict=True) for token in t
        ]
        loose = " & ".join(words + filters)
        loose += "".join(f" & !{unit_query(t, f)}" for t, f in excluded if len(t) == 1)
    return CompiledQuery(
        exact=exact,
        loose=loose,
        needles=[needle(tokens) for tokens in units if len(tokens) > 1],
        avoid=[needle(tokens) for tokens, _ in excluded if len(tokens) > 1],
        units=units,
        title_queries=[unit_query(t, f, TITLE) for t, f in zip(units, families, strict=True)],
        lead_queries=[unit_query(t, f, LEAD) for t, f in zip(units, families, strict=True)],
        tags=tags,
    )


# --- statements ----------------------------------------------------------------------------------------------
# The f-strings below only ever insert constant fragments and `$n` placeholders, never a value.

ARTICLE_COLUMNS = (
    "a.id, a.title, a.lead, a.body, a.published_at, a.views, a.source, a.url, a.content_hash, a.topics,"
    " a.is_gov_commission, a.ingested_at"
)


class Args:
    """Bound parameters of a statement being assembled: each value becomes the next `$n`."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def match_sql(compiled: CompiledQuery, args: Args, since: datetime | None, until: datetime | None) -> str:
    """The WHERE condition of the matches of `a` (articles AS a) published in [since, until)."""
    if compiled.loose is None:
        sql = f"a.search @@ {args(compiled.exact)}::tsquery"
    else:
        # The GIN index narrows to articles holding every word; positions (or a long article's stems text)
        # then decide the phrases.
        sql = (
            f"a.search @@ {args(compiled.loose)}::tsquery AND CASE WHEN a.long_stems IS NULL"  # noqa: S608
            f" THEN a.search @@ {args(compiled.exact)}::tsquery"
            f" ELSE NOT EXISTS (SELECT FROM unnest({args(compiled.needles)}::text[]) AS n(s)"
            "  WHERE strpos(a.long_stems, n.s) = 0)"
            f" AND NOT EXISTS (SELECT FROM unnest({args(compiled.avoid)}::text[]) AS n(s)"
            "  WHERE strpos(a.long_stems, n.s) > 0) END"
        )
    if since is not None:
        sql += f" AND a.published_at >= {args(since)}"
    if until is not None:
        sql += f" AND a.published_at < {args(until)}"
    return sql


def score_sql(head: str, weighted: list[tuple[str, float]], args: Args) -> str:
    """Minus the summed weights of the tsqueries the `head` vector matches (lower is better, like bm25)."""
    cases = [
        f"CASE WHEN {head} @@ {args(query)}::tsquery THEN {args(weight)}::float8 ELSE 0 END"
        for query, weight in weighted
    ]
    return "-(" + " + ".join(cases) + ")"


def page_sql(match: str, score: str, args: Args, *, limit: int, offset: int) -> str:
    """One page of every match ranked, each row (score, ARTICLE_COLUMNS)."""
    page = f"ORDER BY score, published_at DESC, id DESC LIMIT {args(limit)} OFFSET {args(offset)}"
    return (
        f"WITH ranked AS MATERIALIZED (SELECT a.id, a.published_at, {score} AS score FROM articles AS a"  # noqa: S608
        f" WHERE {match} {page}) SELECT r.score, {ARTICLE_COLUMNS}"
        " FROM ranked AS r JOIN articles AS a ON a.id = r.id ORDER BY r.score, r.published_at DESC, r.id DESC"
    )
