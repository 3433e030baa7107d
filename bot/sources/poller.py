"""Polling sources into the archive.

`poll_once` polls every due source concurrently (the Fetcher bounds parallel requests and keeps one request
per host at a time); each source's failure is recorded in its health and never stops the others. New items
become articles (feed text, or the article page when the feed gives only a summary, a bounded number per
source and poll), go through the archive's dedupe, are linked to their source and clustered with
near-duplicates.
`bot/sources/service.py` runs that in `govdigest run`; `bot/sources/alerts.py` tells the admins once when a source breaks. No Telegram here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.archive.urls import normalize_url
from bot.config import Settings
from bot.sources.clustering import ClusterIndex, Sketch
from bot.sources.defaults import load_default_sources
from bot.sources.feeds import FeedError, FeedItem, looks_like_feed
from bot.sources.fetch import Fetcher, FetchError, FetchLimits, FetchResult
from bot.sources.records import PollSuccess, Source, SourceKind
from bot.sources.report import PollReport, PollStatus, SourceOutcome
from bot.sources.work import (
    Built,
    FetchedPage,
    ItemJob,
    Offload,
    Prepared,
    feed_articles,
    item_title,
    listing_links,
    needs_page,
    page_articles,
    parse_feed_job,
    processes_pay,
)
from storage.errors import StorageUnavailable
from storage.interfaces import ArticleStore, SourceStore, Storage

log = logging.getLogger(__name__)

# Article pages fetched per source and poll (summary-only feeds, news-list pages). The rest wait for the
# next poll: their items are not remembered, so nothing is lost, only spread out.
ARTICLE_FETCHES_PER_POLL = 10
# Sources being fetched, parsed and stored at once: enough to keep the workers and the database busy; storing
# is serial (one database connection), so more would only hold more parsed feeds in memory while they wait
# (bench/poll_bench.py: peak memory).
SOURCES_IN_FLIGHT = 16
# Near-duplicates are looked for among articles published this close to each other.
CLUSTER_WINDOW = timedelta(days=3)
_FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def fetcher_for(settings: Settings, limits: FetchLimits | None = None) -> Fetcher:
    """The deployment's fetcher: public addresses only unless SOURCES_ALLOW_PRIVATE_ADDRESSES says otherwise."""
    # A contact URL for the User-Agent, if the deployment's settings carry one.
    contact = getattr(settings, "contact_url", None)
    limits = replace(limits or FetchLimits(), allow_private_addresses=settings.allow_private_fetch)
    return Fetcher(limits=limits, contact=contact if isinstance(contact, str) else None)


async def load_defaults_if_empty(repo: SourceStore) -> int:
    """First start: the default sources file fills the empty sources table (once). Returns how many."""
    added = await repo.add_defaults(load_default_sources())
    if added:
        log.info("loaded %d default sources from bot/default_sources.toml", added)
    return added


async def poll_once(
    storage: Storage,
    settings: Settings,
    *,
    fetcher: Fetcher | None = None,
    now: datetime | None = None,
    source_ids: Sequence[int] | None = None,
    article_fetches: int = ARTICLE_FETCHES_PER_POLL,
    executor: Executor | None = None,
) -> PollReport:
    """Poll the due sources (or exactly `source_ids`) once, concurrently; a source's fault never raises.

    Parsing runs in `executor` when given, else in worker processes of the poll's own when there are many
    sources and more than one core (bot/sources/work.py), else in a thread."""
    started = time.perf_counter()
    moment = now or storage.clock()
    repo = storage.sources
    archive = storage.articles
    sources = await repo.due(moment, source_ids=source_ids)
    own_fetcher = fetcher is None
    client = fetcher or fetcher_for(settings)
    offload = Offload(executor, processes=processes_pay(len(sources)))
    poller = _SourcePoller(repo, archive, client, offload, now=moment, article_fetches=article_fetches)
    in_flight = asyncio.Semaphore(SOURCES_IN_FLIGHT)

    async def bounded(source: Source) -> SourceOutcome:
        async with in_flight:
            return await poller.poll(source)

    try:
        outcomes = await asyncio.gather(*(bounded(source) for source in sources))
    finally:
        await offload.aclose()
        if own_fetcher:
            await client.close()
    await _cluster(repo, poller.stored)
    alerts = await repo.pending_alerts()
    return PollReport(
        outcomes=tuple(outcomes),
        alerts=tuple(alerts),
        elapsed_seconds=time.perf_counter() - started,
        new_article_ids=tuple(fresh.article_id for fresh in poller.stored),
    )


class _SourcePoller:
    def __init__(
        self,
        repo: SourceStore,
        archive: ArticleStore,
        fetcher: Fetcher,
        offload: Offload,
        *,
        now: datetime,
        article_fetches: int,
    ) -> None:
        self.repo = repo
        self.archive = archive
        self.fetcher = fetcher
        self.offload = offload
        self.now = now
        self.article_fetches = article_fetches
        self.stored: list[_Fresh] = []

    async def poll(self, source: Source) -> SourceOutcome:
        try:
            return await self._poll(source)
        except StorageUnavailable:
            # Not this source's fault: the poll stops, the source stays due, the service tries again later.
            raise
        except Exception as error:  # a bug for one source must not stop the others
            log.exception("polling source %d (%s) failed", source.id, source.url)
            reason = f"internal error: {error.__class__.__name__}: {error}"
            await self.repo.record_failure(source, now=self.now, error=reason)
            return SourceOutcome(source.id, source.name, PollStatus.ERROR, error=reason)

    async def _fail(self, source: Source, reason: str, final_url: str | None = None) -> SourceOutcome:
        redirect = final_url if final_url and final_url != source.url else None
        failures = await self.repo.record_failure(source, now=self.now, error=reason, redirect_url=redirect)
        log.warning("source %d (%s): %s (%d in a row)", source.id, source.url, reason, failures)
        return SourceOutcome(source.id, source.name, PollStatus.ERROR, error=reason, final_url=final_url)

    async def _poll(self, source: Source) -> SourceOutcome:
        accept = _FEED_ACCEPT if source.kind is SourceKind.RSS else _PAGE_ACCEPT
        try:
            response = await self.fetcher.fetch(
                source.url, etag=source.etag, last_modified=source.last_modified, accept=accept
            )
        except FetchError as error:
            return await self._fail(source, error.reason, error.final_url)
        redirect = response.final_url if response.redirected else None
        if response.not_modified:
            await self.repo.record_success(
                source,
                now=self.now,
                items=None,
                new=0,
                etag=response.etag,
                last_modified=response.last_modified,
                redirect_url=redirect,
            )
            return SourceOutcome(
                source.id, source.name, PollStatus.NOT_MODIFIED, final_url=response.final_url
            )
        # A page source that turns out to serve a feed (added by hand with a URL that did not say so) is read
        # as the feed it is; a feed source that serves HTML stays an error, so the admin hears about it.
        if source.kind is SourceKind.RSS or looks_like_feed(response.body, response.content_type):
            collected = await self._from_feed(source, response)
        else:
            collected = await self._from_listing(source, response)
        if isinstance(collected, str):
            return await self._fail(source, collected, response.final_url)
        await self._store(source, collected, response, redirect)
        return SourceOutcome(
            source.id,
            source.name,
            PollStatus.OK,
            items=collected.items,
            known=collected.known,
            new=collected.new,
            duplicates=collected.duplicates,
            pages_fetched=collected.pages_fetched,
            warnings=tuple(collected.warnings),
            final_url=response.final_url,
        )

    # --- collecting items -------------------------------------------------------------------------------

    async def _from_feed(self, source: Source, response: FetchResult) -> _Collected | str:
        try:
            feed = await self.offload.run(
                parse_feed_job, response.body, response.final_url, response.content_type
            )
        except FeedError as error:
            return str(error)
        collected = _Collected(items=len(feed.items) + feed.duplicate_items, duplicates=feed.duplicate_items)
        if feed.warning:
            collected.warnings.append(feed.warning)
        known = await self.repo.known_items(source.id, (item.key for item in feed.items))
        collected.known = len(known)
        # Items with no title are not articles (and not remembered); summaries get their article page, as
        # many as the budget allows, the others keep the feed's text.
        fresh = [item for item in feed.items if item.key not in known and item_title(item)]
        wanted = [item for item in fresh if needs_page(item)][: max(0, self.article_fetches)]
        collected.pages_fetched = len(wanted)
        pages = dict(
            zip(
                (item.key for item in wanted),
                await asyncio.gather(*(self._page(item.link or "") for item in wanted)),
                strict=True,
            )
        )
        jobs = [self._job(item, pages.get(item.key)) for item in fresh]
        if jobs:
            built = await self.offload.run(feed_articles, jobs, source.name, self.now)
            collected.add(built)
        return collected

    @staticmethod
    def _job(item: FeedItem, page: FetchedPage | str | None) -> ItemJob:
        if isinstance(page, str):
            return ItemJob(item, fetch_warning=page)
        return ItemJob(item, page)

    async def _page(self, url: str) -> FetchedPage | str:
        """An article page, or the warning that says why it could not be fetched."""
        try:
            response = await self.fetcher.fetch(url, accept=_PAGE_ACCEPT)
        except FetchError as error:
            return f"{url}: {error.reason}"
        return FetchedPage(url, response.final_url, response.body)

    async def _from_listing(self, source: Source, response: FetchResult) -> _Collected | str:
        links = await self.offload.run(listing_links, response.body, response.final_url)
        collected = _Collected(items=len(links))
        keys = {link: f"link:{normalize_url(link)}" for link in links}
        known = await self.repo.known_items(source.id, keys.values())
        collected.known = len(known)
        # Another source (or an earlier run) stored these: no need to fetch them again.
        stored = await self.repo.stored_urls([link for link in links if keys[link] not in known])
        budget = self.article_fetches
        wanted: list[str] = []
        for link in links:
            key = keys[link]
            if key in known:
                continue
            if link in stored:
                collected.duplicates += 1
                collected.seen_keys.append(key)
                continue
            if budget <= 0:
                break
            budget -= 1
            wanted.append(link)
        collected.pages_fetched = len(wanted)
        fetched = await asyncio.gather(*(self._page(link) for link in wanted))
        pages = [(keys[link], page) for link, page in zip(wanted, fetched, strict=True)]
        ready = [(key, page) for key, page in pages if isinstance(page, FetchedPage)]
        built = iter(await self.offload.run(page_articles, ready, source.name, self.now) if ready else ())
        # Back in link order: a page that failed or is not an article (a section, a broken page) is remembered
        # so it is not fetched at every poll.
        results = [Built(None, page) if isinstance(page, str) else next(built) for _, page in pages]
        collected.seen_keys += [
            key for (key, _), result in zip(pages, results, strict=True) if not result.prepared
        ]
        collected.add(results)
        return collected

    # --- storing ----------------------------------------------------------------------------------------

    async def _store(
        self, source: Source, collected: _Collected, response: FetchResult, redirect: str | None
    ) -> None:
        """Store the new articles (one archive transaction) and the source's bookkeeping (one more)."""
        ready = collected.ready
        result = await self.archive.add_many([p.article for p in ready], [p.stemmed for p in ready])
        collected.new = len(result.new_ids)
        collected.duplicates += result.duplicates
        by_hash = await self.repo.save_poll(
            source,
            now=self.now,
            keys=[*collected.seen_keys, *(p.key for p in ready)],
            new_ids=result.new_ids,
            # Reposts of an article the archive already had are linked too: that source also carried it.
            others=[p.article for p in ready],
            success=PollSuccess(
                items=collected.items,
                new=collected.new,
                etag=response.etag,
                last_modified=response.last_modified,
                redirect_url=redirect,
            ),
        )
        # Only what clustering needs is kept until the end of the poll, not the articles' text.
        fresh: dict[int, _Fresh] = {}
        for p in ready:
            article_id = by_hash.get(p.article.content_hash)
            if article_id is not None and article_id not in fresh:
                fresh[article_id] = _Fresh(article_id, source.name, p.article.published_at, p.sketch)
        self.stored.extend(fresh.values())


@dataclass(slots=True)
class _Collected:
    items: int = 0
    known: int = 0
    new: int = 0
    duplicates: int = 0
    pages_fetched: int = 0
    ready: list[Prepared] = field(default_factory=list)  # articles on their way to the archive
    seen_keys: list[str] = field(default_factory=list)  # listed, not an article: remembered all the same
    warnings: list[str] = field(default_factory=list)

    def add(self, built: Sequence[Built]) -> None:
        for result in built:
            if result.prepared is not None:
                self.ready.append(result.prepared)
            if result.warning:
                self.warnings.append(result.warning)


@dataclass(frozen=True, slots=True)
class _Fresh:
    """An article stored in this poll, as clustering needs it."""

    article_id: int
    source: str
    published_at: datetime
    sketch: Sketch


async def _cluster(repo: SourceStore, stored: Sequence[_Fresh]) -> None:
    """Cluster this poll's new articles with each other and with recent ones (oldest first, so a cluster is
    named by its first article)."""
    if not stored:
        return
    ordered = sorted(stored, key=lambda fresh: (fresh.published_at, fresh.article_id))
    index = ClusterIndex()
    known = await repo.sketches_between(
        ordered[0].published_at - CLUSTER_WINDOW, ordered[-1].published_at + CLUSTER_WINDOW
    )
    for article_id, cluster_id, known_sketch in known:
        index.add(article_id, cluster_id, known_sketch)
    rows = [
        (
            fresh.article_id,
            index.assign(fresh.article_id, fresh.sketch),
            fresh.source,
            fresh.published_at,
            fresh.sketch,
        )
        for fresh in ordered
    ]
    await repo.save_clusters(rows)


# --- the background service ---------------------------------------------------------------------------------
