"""Domain records shared by the parser, the archive and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Snippets mark matched words with these control characters; renderers escape the text first and then
# turn the marks into <b>…</b> (or bold entities), so a marked word can never inject markup.
MARK_START = "\x02"
MARK_END = "\x03"


@dataclass(frozen=True, slots=True)
class Article:
    """A parsed news article, before it is stored. `published_at` is timezone-aware UTC."""

    title: str
    lead: str
    body: tuple[str, ...]
    published_at: datetime
    views: int | None
    source: str
    url: str | None
    topics: frozenset[str]
    is_gov_commission: bool
    content_hash: str

    @property
    def text(self) -> str:
        return "\n\n".join((self.lead, *self.body)) if self.lead else "\n\n".join(self.body)


@dataclass(frozen=True, slots=True)
class StoredArticle(Article):
    """An article as the archive holds it: the parsed article plus its archive id and ingest time."""

    id: int
    ingested_at: datetime


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: the article's head and a snippet with MARK_START/MARK_END around matched words."""

    article_id: int
    title: str
    lead: str
    source: str
    url: str | None
    published_at: datetime
    views: int | None
    topics: frozenset[str]
    snippet: str
    rank: float


COUNT_CAP = 1000


@dataclass(frozen=True, slots=True)
class AddResult:
    new_ids: list[int] = field(default_factory=list)
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    articles: int
    sources: int
    first_published: datetime | None
    last_published: datetime | None
    by_topic: dict[str, int]
