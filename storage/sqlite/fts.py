"""The SQLite backend's compiler from a parsed `SearchQuery` to an FTS5 MATCH expression.

User text never becomes FTS5 syntax: only quoted strings of stemmed alphanumeric tokens are emitted, joined by
operators written here."""

from __future__ import annotations

import re

from bot.archive.query import SearchQuery, unit_families, unit_tokens, word_family, word_tokens


def topic_tag(topic: str) -> str:
    """The index token of a topic in the FTS `tags` column (alphanumeric, so unicode61 keeps it whole)."""
    return "topic" + re.sub(r"[^0-9a-z]", "", topic.lower())


def fts_string(tokens: list[str]) -> str:
    """One quoted FTS5 string (a phrase when several tokens); quotes doubled although stems never have them."""
    return '"' + " ".join(tokens).replace('"', '""') + '"'


def _quoted(tokens: list[str]) -> str | None:
    return fts_string(tokens) if tokens else None


def _either(family: tuple[str, ...]) -> str:
    if len(family) == 1:
        return fts_string([family[0]])
    return "(" + " OR ".join(fts_string([stem]) for stem in family) + ")"


def match_units(query: SearchQuery) -> list[str]:
    """What every match must contain: one FTS5 expression per word (any stem of its family) and one quoted
    string per phrase."""
    return [
        _either(family) if family else fts_string(tokens)
        for tokens, family in zip(unit_tokens(query), unit_families(query), strict=True)
    ]


def build_match(query: SearchQuery) -> str | None:
    """The FTS5 MATCH expression for `query`, or None when there is nothing to match."""
    if query.is_empty:
        return None
    required = match_units(query)
    if not required:
        return None
    if query.topics:
        required.append("(" + " OR ".join(f'tags : "{topic_tag(t)}"' for t in sorted(query.topics)) + ")")
    expression = "(" + " AND ".join(required) + ")"
    for word in query.excluded:
        family = word_family(word)
        negative = _either(family) if family else _quoted(word_tokens(word.split(" ")))
        if negative:
            expression += f" NOT {negative}"
    return expression
