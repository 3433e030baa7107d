"""Composing digests: what a chat's digest of a period holds (the period's government news and its saved
queries' hits, merged, collapsed into one item per story and ranked) and its messages, page by page
(`DigestComposer`, which caches what the chats of one fan-out share); the "next page" button's markup
(`digest_markup`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.archive.models import StoredArticle
from bot.archive.query import parse_query
from bot.chats.records import Chat, Subscription
from bot.digest.layout import (
    GOV_NEWS_RELEVANCE,
    Candidate,
    ClusterInfo,
    DigestPageView,
    collapse_clusters,
    merge_candidates,
    more_button_text,
    query_relevance,
    rank,
    render_digest,
    render_nothing_new,
)
from bot.digest.records import PartDraft
from bot.telegram.callbacks import DigestPage
from storage.interfaces import ArticleStore, Storage

log = logging.getLogger(__name__)


QUERY_HITS_PER_DIGEST = 100


@dataclass(frozen=True, slots=True)
class ComposedDigest:
    parts: list[PartDraft]
    items: list[int]  # ranked article ids, all pages
    page_size: int | None
    remaining: int  # items after the first page

    @property
    def empty(self) -> bool:
        return not self.items


def digest_markup(job_id: int, page: int, locale: str, *, until: int = 0) -> str:
    """The "next page" button as reply-markup JSON."""
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=more_button_text(locale),
                    callback_data=DigestPage(job=job_id, page=page, until=until).pack(),
                )
            ]
        ]
    )
    return markup.model_dump_json(exclude_none=True)


class DigestComposer:
    """Composes digests, caching what many chats share in one fan-out: the period's government news, each
    saved query's hits, clusters. One composer per cycle (the archive changes between cycles)."""

    def __init__(self, storage: Storage, *, archive: ArticleStore | None = None) -> None:
        self.storage = storage
        self.archive = archive or storage.articles
        self._gov: dict[tuple[datetime, datetime], list[StoredArticle]] = {}
        self._hits: dict[tuple[str, datetime, datetime], list[Candidate]] = {}
        self._clusters: dict[int, ClusterInfo | None] = {}
        self._sources: Any = None
        # Chats with the same subscription and period share the ranking, and with the same zone, locale and
        # cap the very same messages: most chats of a fan-out are composed once per distinct digest.
        self._ranked: dict[tuple[object, ...], list[Candidate]] = {}
        self._views: dict[tuple[object, ...], DigestPageView] = {}

    async def _gov_news(self, start: datetime, end: datetime) -> list[StoredArticle]:
        key = (start, end)
        if key not in self._gov:
            self._gov[key] = await self.archive.published_between(start, end, gov_only=True)
        return self._gov[key]

    async def _query_hits(self, query_text: str, start: datetime, end: datetime) -> list[Candidate]:
        key = (query_text, start, end)
        if key not in self._hits:
            query = parse_query(query_text)
            hits = await self.archive.search(query, limit=QUERY_HITS_PER_DIGEST, since=start, until=end)
            articles = {a.id: a for a in await self.archive.get_many([h.article_id for h in hits])}
            self._hits[key] = [
                Candidate(articles[h.article_id], query_relevance(position, len(hits)))
                for position, h in enumerate(hits)
                if h.article_id in articles and start <= articles[h.article_id].published_at < end
            ]
        return self._hits[key]

    async def clusters(self, article_ids: Sequence[int]) -> dict[int, ClusterInfo]:
        missing = [i for i in article_ids if i not in self._clusters]
        if missing:
            found: dict[int, Any] = {}
            try:
                if self._sources is None:
                    self._sources = self.storage.sources
                found = await self._sources.clusters_for(missing)
            except Exception:  # clusters are an extra: a digest goes out without them
                log.warning("clusters unavailable for the digest", exc_info=True)
            for article_id in missing:
                self._clusters[article_id] = found.get(article_id)
        return {i: c for i in article_ids if (c := self._clusters.get(i)) is not None}

    async def candidates(
        self, subscription: Subscription, *, start: datetime, end: datetime
    ) -> list[Candidate]:
        key = _subscription_key(subscription, start, end)
        if key not in self._ranked:
            self._ranked[key] = await self._rank(subscription, start=start, end=end)
        return self._ranked[key]

    async def _rank(self, subscription: Subscription, *, start: datetime, end: datetime) -> list[Candidate]:
        groups: list[list[Candidate]] = []
        if subscription.gov_news:
            groups.append([Candidate(a, GOV_NEWS_RELEVANCE) for a in await self._gov_news(start, end)])
        for query in subscription.enabled_queries:
            groups.append(await self._query_hits(query.text, start, end))
        merged = merge_candidates(groups)
        # One item per story: the clusters of every candidate are needed before ranking and paging, since
        # collapsing changes the count, the pages and the "N more" line.
        stories = collapse_clusters(merged, await self.clusters([c.article.id for c in merged]))
        return rank(stories, period_start=start, period_end=end)

    async def compose(
        self,
        chat: Chat,
        subscription: Subscription,
        *,
        start: datetime,
        end: datetime,
        page: int = 0,
        notice_when_empty: bool | None = None,
    ) -> ComposedDigest:
        ranked = await self.candidates(subscription, start=start, end=end)
        size = chat.max_items
        view_key = (*_subscription_key(subscription, start, end), chat.timezone, chat.locale, size, page)
        view = self._views.get(view_key)
        if view is None:
            page_ids = [c.article.id for c in (ranked[page * size : (page + 1) * size] if size else ranked)]
            view = self._views[view_key] = render_digest(
                ranked,
                period_start=start,
                period_end=end,
                timezone=chat.timezone,
                locale=chat.locale,
                max_items=size,
                page=page,
                clusters=await self.clusters(page_ids),
            )
        parts = [PartDraft(message) for message in view.messages]
        notice = chat.notify_empty if notice_when_empty is None else notice_when_empty
        if not parts and notice and page == 0:
            parts = [
                PartDraft(
                    render_nothing_new(
                        period_start=start, period_end=end, timezone=chat.timezone, locale=chat.locale
                    )
                )
            ]
        return ComposedDigest(
            parts=parts, items=[c.article.id for c in ranked], page_size=size, remaining=view.remaining
        )


def _subscription_key(subscription: Subscription, start: datetime, end: datetime) -> tuple[object, ...]:
    return (subscription.gov_news, tuple(sorted(q.text for q in subscription.enabled_queries)), start, end)
