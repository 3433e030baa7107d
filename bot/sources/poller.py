"""Polling sources into the archive.

`poll_once` polls every due source concurrently (the Fetcher bounds parallel requests and keeps one request
per host at a time); each source's failure is recorded in its health and never stops the others. New items
become articles (feed text, or the article page when the feed gives only a summary, a bounded number per
source and poll), go through the archive's dedupe, are linked to their source and clustered with
near-duplicates.
`polling_service` runs that in `govdigest run` and tells the admins once when a source breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import LinkPreviewOptions

from bot.config import Settings
from bot.models import Article
from bot.parsing import PageRejected, decode_bytes, make_article, parse_page
from bot.sources.clustering import ClusterIndex, Sketch, sketch
from bot.sources.defaults import DefaultsError, load_default_sources
from bot.sources.feeds import FeedError, FeedItem, looks_like_feed, parse_feed
from bot.sources.fetch import Fetcher, FetchError, FetchLimits, FetchResult
from bot.sources.listing import article_links
from bot.texts import DEFAULT_LOCALE, text
from bot.urls import normalize_url
from storage.articles import ArticleRepository
from storage.database import Database
from storage.sources import AlertKind, Source, SourceAlert, SourceKind, SourceRepository

log = logging.getLogger(__name__)

# A feed item with less text than this is a summary: the article page is fetched for the full text.
FULL_TEXT_MIN_CHARS = 600
# Article pages fetched per source and poll (summary-only feeds, news-list pages). The rest wait for the
# next poll: their items are not remembered, so nothing is lost, only spread out.
ARTICLE_FETCHES_PER_POLL = 10
# Sources being fetched, parsed and stored at once. Storing is serial (one database connection), so more would
# only hold more parsed feeds in memory while they wait (bench/poll_bench.py: peak memory).
SOURCES_IN_FLIGHT = 16
# Near-duplicates are looked for among articles published this close to each other.
CLUSTER_WINDOW = timedelta(days=3)
# The service wakes at least this often to look for due sources, and never more often than MIN_SLEEP.
MAX_SLEEP_SECONDS = 60.0
MIN_SLEEP_SECONDS = 5.0
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


class PollStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    source_id: int
    name: str
    status: PollStatus
    items: int = 0  # items the feed or page listed
    known: int = 0  # items this source had listed before (skipped without parsing)
    new: int = 0  # articles stored
    duplicates: int = 0  # items the archive already had (from another source, or repeated in the feed)
    pages_fetched: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    final_url: str | None = None


@dataclass(frozen=True, slots=True)
class PollReport:
    outcomes: tuple[SourceOutcome, ...]
    alerts: tuple[SourceAlert, ...]
    elapsed_seconds: float
    new_article_ids: tuple[int, ...] = field(default=())

    def _sum(self, name: str) -> int:
        return sum(int(getattr(outcome, name)) for outcome in self.outcomes)

    @property
    def polled(self) -> int:
        return len(self.outcomes)

    @property
    def new(self) -> int:
        return self._sum("new")

    @property
    def duplicates(self) -> int:
        return self._sum("duplicates")

    @property
    def items(self) -> int:
        return self._sum("items")

    @property
    def errors(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status is PollStatus.ERROR)

    @property
    def not_modified(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status is PollStatus.NOT_MODIFIED)


@dataclass(slots=True)
class _Candidate:
    """One new item on its way to the archive."""

    key: str
    article: Article


def fetcher_for(settings: Settings, limits: FetchLimits | None = None) -> Fetcher:
    # A contact URL for the User-Agent, if the deployment's settings carry one.
    contact = getattr(settings, "contact_url", None)
    return Fetcher(limits=limits, contact=contact if isinstance(contact, str) else None)


async def load_defaults_if_empty(repo: SourceRepository) -> int:
    """First start: the default sources file fills the empty sources table (once). Returns how many."""
    added = await repo.add_defaults(load_default_sources())
    if added:
        log.info("loaded %d default sources from bot/default_sources.toml", added)
    return added


async def poll_once(
    db: Database,
    settings: Settings,
    *,
    fetcher: Fetcher | None = None,
    now: datetime | None = None,
    source_ids: Sequence[int] | None = None,
    article_fetches: int = ARTICLE_FETCHES_PER_POLL,
) -> PollReport:
    """Poll the due sources (or exactly `source_ids`) once, concurrently; a source's fault never raises."""
    started = time.perf_counter()
    moment = now or datetime.now(UTC)
    repo = SourceRepository(db)
    archive = ArticleRepository(db)
    sources = await repo.due(moment, source_ids=source_ids)
    own_fetcher = fetcher is None
    client = fetcher or fetcher_for(settings)
    poller = _SourcePoller(repo, archive, client, moment, article_fetches)
    in_flight = asyncio.Semaphore(SOURCES_IN_FLIGHT)

    async def bounded(source: Source) -> SourceOutcome:
        async with in_flight:
            return await poller.poll(source)

    try:
        outcomes = await asyncio.gather(*(bounded(source) for source in sources))
    finally:
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
        repo: SourceRepository,
        archive: ArticleRepository,
        fetcher: Fetcher,
        now: datetime,
        article_fetches: int,
    ) -> None:
        self.repo = repo
        self.archive = archive
        self.fetcher = fetcher
        self.now = now
        self.article_fetches = article_fetches
        self.stored: list[_Fresh] = []

    async def poll(self, source: Source) -> SourceOutcome:
        try:
            return await self._poll(source)
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
        outcome = await self._store(source, collected)
        await self.repo.record_success(
            source,
            now=self.now,
            items=outcome.items,
            new=outcome.new,
            etag=response.etag,
            last_modified=response.last_modified,
            redirect_url=redirect,
        )
        return SourceOutcome(
            source.id,
            source.name,
            PollStatus.OK,
            items=outcome.items,
            known=outcome.known,
            new=outcome.new,
            duplicates=outcome.duplicates,
            pages_fetched=outcome.pages_fetched,
            warnings=tuple(outcome.warnings),
            final_url=response.final_url,
        )

    # --- collecting items -------------------------------------------------------------------------------

    async def _from_feed(self, source: Source, response: FetchResult) -> _Collected | str:
        try:
            # feedparser is synchronous and CPU-bound: keep it off the event loop.
            feed = await asyncio.to_thread(
                parse_feed, response.body, url=response.final_url, content_type=response.content_type
            )
        except FeedError as error:
            return str(error)
        collected = _Collected(items=len(feed.items) + feed.duplicate_items, duplicates=feed.duplicate_items)
        if feed.warning:
            collected.warnings.append(feed.warning)
        known = await self.repo.known_items(source.id, (item.key for item in feed.items))
        collected.known = len(known)
        budget = self.article_fetches
        for item in feed.items:
            if item.key in known:
                continue
            article, fetched = await self._feed_article(
                source, item, fetch_page=budget > 0, warnings=collected.warnings
            )
            budget -= fetched
            collected.pages_fetched += fetched
            if article is not None:
                collected.candidates.append(_Candidate(item.key, article))
        return collected

    async def _feed_article(
        self, source: Source, item: FeedItem, *, fetch_page: bool, warnings: list[str]
    ) -> tuple[Article | None, int]:
        """The article of a feed item: the feed's full text, else the article page, else the summary."""
        published_at = item.published_at or self.now
        title = item.title or item.summary[:120]
        if not title:
            return None, 0
        full_text = sum(len(paragraph) for paragraph in item.content)
        if full_text < FULL_TEXT_MIN_CHARS and item.link and fetch_page:
            page = await self._page(source, item.link, warnings)
            if page is not None:
                # The feed knows the title and the date for sure; the page adds the text.
                return make_article(
                    title=title,
                    lead=page.lead or item.summary,
                    body=page.body,
                    published_at=item.published_at or page.published_at,
                    views=page.views,
                    source=source.name,
                    url=item.link,
                ), 1
            fetched = 1
        else:
            fetched = 0
        lead = item.summary
        body = item.content
        if body and lead and body[0].startswith(lead[:80]):
            lead = ""
        return make_article(
            title=title,
            lead=lead,
            body=body,
            published_at=published_at,
            views=None,
            source=source.name,
            url=item.link,
        ), fetched

    async def _page(self, source: Source, url: str, warnings: list[str]) -> Article | None:
        try:
            response = await self.fetcher.fetch(url, accept=_PAGE_ACCEPT)
            return await asyncio.to_thread(
                parse_page, response.body, source=source.name, url=response.final_url, now=self.now
            )
        except FetchError as error:
            warnings.append(f"{url}: {error.reason}")
        except PageRejected as error:
            warnings.append(f"{url}: {error.reason}")
        return None

    async def _from_listing(self, source: Source, response: FetchResult) -> _Collected | str:
        markup = decode_bytes(response.body)
        links = article_links(markup, response.final_url)
        collected = _Collected(items=len(links))
        keys = {link: f"link:{normalize_url(link)}" for link in links}
        known = await self.repo.known_items(source.id, keys.values())
        collected.known = len(known)
        budget = self.article_fetches
        for link in links:
            key = keys[link]
            if key in known:
                continue
            if await self.archive.exists_url(link):
                # Another source (or an earlier run) stored it: no need to fetch it again.
                collected.duplicates += 1
                collected.seen_keys.append(key)
                continue
            if budget <= 0:
                break
            budget -= 1
            collected.pages_fetched += 1
            article = await self._page(source, link, collected.warnings)
            if article is None:
                # Not an article after all (or broken): remember it so it is not fetched at every poll.
                collected.seen_keys.append(key)
                continue
            collected.candidates.append(_Candidate(key, article))
        return collected

    # --- storing ----------------------------------------------------------------------------------------

    async def _store(self, source: Source, collected: _Collected) -> _Collected:
        articles = [candidate.article for candidate in collected.candidates]
        result = await self.archive.add_many(articles)
        collected.new = len(result.new_ids)
        collected.duplicates += result.duplicates
        by_hash = await self.repo.ids_by_hash(result.new_ids)
        new_pairs = [(by_hash[a.content_hash], a) for a in articles if a.content_hash in by_hash]
        # Reposts of an article the archive already had are linked too: that source also carried it.
        reposted = await self.repo.stored_article_ids([a for a in articles if a.content_hash not in by_hash])
        # Only what clustering needs is kept until the end of the poll, not the articles' text.
        self.stored.extend(
            _Fresh(article_id, article.source, article.published_at, sketch_of(article))
            for article_id, article in new_pairs
        )
        await self.repo.remember_items(
            source.id,
            [*collected.seen_keys, *(candidate.key for candidate in collected.candidates)],
            [*(article_id for article_id, _ in new_pairs), *reposted],
            now=self.now,
        )
        return collected


@dataclass(slots=True)
class _Collected:
    items: int = 0
    known: int = 0
    new: int = 0
    duplicates: int = 0
    pages_fetched: int = 0
    candidates: list[_Candidate] = field(default_factory=list)
    seen_keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Fresh:
    """An article stored in this poll, as clustering needs it."""

    article_id: int
    source: str
    published_at: datetime
    sketch: Sketch


def sketch_of(article: Article) -> Sketch:
    return sketch(article.title, article.lead or " ".join(article.body[:1]))


async def _cluster(repo: SourceRepository, stored: Sequence[_Fresh]) -> None:
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


def alert_text(alert: SourceAlert, locale: str = DEFAULT_LOCALE) -> str:
    source = alert.source
    if alert.kind is AlertKind.FAILING:
        return text(
            "sources.alert_failing",
            locale,
            name=source.name,
            url=source.url,
            failures=source.consecutive_failures,
            error=source.last_error or "?",
        )
    return text(
        "sources.alert_empty", locale, name=source.name, url=source.url, polls=source.consecutive_empty
    )


async def send_alerts(
    bot: Bot, settings: Settings, repo: SourceRepository, alerts: Sequence[SourceAlert]
) -> int:
    """Tell every admin about each alert, then mark it sent (once per episode). Returns messages sent.

    An alert no admin could receive stays pending and is tried after the next poll."""
    sent = 0
    for alert in alerts:
        delivered = not settings.admin_ids  # nobody to tell: logged, and not retried at every poll
        if not settings.admin_ids:
            log.warning("source alert with no ADMIN_IDS set: %s", alert_text(alert, "en"))
        for admin_id in sorted(settings.admin_ids):
            try:
                await bot.send_message(
                    admin_id, alert_text(alert), parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW
                )
            except TelegramAPIError as error:
                log.warning("cannot send a source alert to admin %d: %s", admin_id, error)
                continue
            delivered = True
            sent += 1
        if delivered:
            await repo.mark_alerted(alert.source.id, alert.kind)
    return sent


async def polling_service(bot: Bot, db: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Background service for `govdigest run`: poll due sources, alert admins, sleep until the next is due."""
    repo = SourceRepository(db)
    try:
        await load_defaults_if_empty(repo)
    except DefaultsError as error:  # a broken defaults file must not keep the bot from polling its sources
        log.error("default sources not loaded: %s", error)
    async with fetcher_for(settings) as fetcher:
        while not stop.is_set():
            poll = asyncio.create_task(poll_once(db, settings, fetcher=fetcher))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not poll.done():
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
                return
            stopping.cancel()
            try:
                report = poll.result()
            except Exception:
                log.exception("polling sources failed")
            else:
                if report.polled:
                    log.info(
                        "polled %d sources: %d new, %d duplicates, %d not modified, %d errors (%.1f s)",
                        report.polled,
                        report.new,
                        report.duplicates,
                        report.not_modified,
                        report.errors,
                        report.elapsed_seconds,
                    )
                try:
                    await send_alerts(bot, settings, repo, report.alerts)
                except Exception:
                    log.exception("sending source alerts failed")
            next_due = await repo.next_due_at()
            delay = MAX_SLEEP_SECONDS
            if next_due is not None:
                delay = (next_due - datetime.now(UTC)).total_seconds()
            delay = min(MAX_SLEEP_SECONDS, max(MIN_SLEEP_SECONDS, delay))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
