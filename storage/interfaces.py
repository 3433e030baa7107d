"""The storage boundary: what the application asks of a backend, as `typing.Protocol`s. The records they take
and return are the application's own (bot/*/records.py, bot/archive/models.py); a backend (storage/sqlite/,
and a second one beside it) implements every method here with the same behaviour, and the storage tests run
against each backend. Nothing outside storage/ sees a connection, a cursor or SQL.

Why this file is long: it is the whole contract a backend implements (five repositories and `Storage`), each
method with the behaviour every backend must share; a backend author reads it top to bottom, in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Protocol

from bot.archive.models import COUNT_CAP, AddResult, ArchiveStats, Article, SearchHit, StoredArticle
from bot.archive.morphology import StemmedArticle
from bot.archive.query import SearchQuery
from bot.chats.records import Chat, ChatCounts, ChatType, Frequency, SavedQuery, Subscription
from bot.clock import Clock
from bot.digest.records import (
    BROADCAST_MAX_AGE,
    FanoutStats,
    Lease,
    OutboxCounts,
    OutboxJob,
    OutboxPart,
    PartDraft,
    Reactivation,
)
from bot.sources.clustering import Sketch
from bot.sources.records import AlertKind, Cluster, NewSource, PollSuccess, Source, SourceAlert


class ArticleStore(Protocol):
    """The article archive: storing each article once, Russian full-text search, the reads the bot needs."""

    async def add_many(
        self, articles: Sequence[Article], stemmed: Sequence[StemmedArticle] | None = None
    ) -> AddResult:
        """Store the articles not stored yet (same normalized URL, or same content hash, is a duplicate —
        also within the batch) and index them, in one transaction."""

    async def prepare_search(self) -> int:
        """Check the ranking index against the table and index what it lacks; returns how many articles were
        indexed (a first start on an existing archive indexes all of them)."""

    async def search(
        self,
        query: SearchQuery,
        *,
        limit: int = 5,
        offset: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        exhaustive: bool = False,
        snippets: bool = True,
    ) -> list[SearchHit]:
        """The best `limit` hits after `offset`, every match ranked (the ranking index: BM25 + a recency bonus;
        on PostgreSQL `exhaustive=True` ranks in SQL instead). `snippets=False` (exports) leaves them empty."""

    async def count(
        self,
        query: SearchQuery,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> int:
        """Matches of `query`, counted up to cap + 1: a result above `cap` means "more than cap"."""

    async def get(self, article_id: int) -> StoredArticle | None: ...

    async def document_frequencies(self, tokens: Sequence[str]) -> dict[str, int]:
        """Index token → the number of articles whose index holds it, in any column (tokens of no article are
        left out). Tokens are index forms (bot.archive.morphology.stem_parts), not words."""

    async def get_many(self, ids: Iterable[int]) -> list[StoredArticle]:
        """The stored articles among `ids`, in the order of `ids` (unknown ids skipped)."""

    async def latest(self, limit: int = 5, offset: int = 0) -> list[StoredArticle]: ...

    async def published_between(
        self, since: datetime, until: datetime, *, gov_only: bool = False
    ) -> list[StoredArticle]:
        """Articles with since <= published_at < until, oldest first."""

    async def stats(self) -> ArchiveStats: ...

    async def exists_url(self, url: str) -> bool: ...

    async def exists_hash(self, content_hash: str) -> bool: ...


class ChatStore(Protocol):
    """Chats the bot talks to, their state and digest preferences."""

    async def upsert(
        self,
        chat_id: int,
        *,
        type: ChatType,
        title: str | None = None,
        username: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> Chat:
        """Create the chat or refresh its identity (type, title, username; locale when given).
        Settings of an existing chat stay as they are; `timezone` only applies to a new chat."""

    async def get(self, chat_id: int) -> Chat | None: ...

    async def get_by_username(self, username: str) -> Chat | None: ...

    async def get_many(self, chat_ids: list[int]) -> list[Chat]: ...

    async def set_locale(self, chat_id: int, locale: str) -> bool: ...

    async def set_timezone(self, chat_id: int, timezone: str) -> bool:
        """Raises ValueError for an unknown IANA name. The next due time follows the new zone from now on."""

    async def set_delivery_time(self, chat_id: int, at: time) -> bool: ...

    async def set_frequency(self, chat_id: int, frequency: Frequency, weekday: int | None = None) -> bool:
        """`weekday` (0 = Monday) is kept for "weekly"; omitted, the stored one stays."""

    async def set_max_items(self, chat_id: int, max_items: int | None) -> bool:
        """None = all items."""

    async def set_notify_empty(self, chat_id: int, enabled: bool) -> bool: ...

    async def set_paused(self, chat_id: int, paused: bool) -> bool: ...

    async def set_last_period_end(self, chat_id: int, moment: datetime | None) -> bool: ...

    async def deactivate(self, chat_id: int, reason: str) -> bool:
        """The bot cannot write there (blocked, kicked, deleted): no more jobs; its pending jobs become
        `inactive`; subscriptions stay."""

    async def reactivate(self, chat_id: int) -> bool:
        """/start or the bot added back: the chat gets digests again (its schedule resumes from now on)."""

    async def migrate_chat_id(self, old_id: int, new_id: int) -> bool:
        """A group became a supergroup: move the chat, its subscription, saved queries and outbox jobs to
        `new_id` (ON UPDATE CASCADE). When `new_id` already has a row (an update from the supergroup arrived
        first), the old chat's data is merged into it and the old row removed. Returns False if `old_id` is
        unknown."""

    async def subscribed(self, *, active_only: bool = True, include_paused: bool = False) -> list[Chat]:
        """Chats with the digest on (government news or at least one enabled saved query)."""

    async def counts(self) -> ChatCounts: ...


class SubscriptionStore(Protocol):
    """A chat's digest subscription: government news on/off and saved queries."""

    async def get(self, chat_id: int) -> Subscription: ...

    async def set_gov_news(self, chat_id: int, enabled: bool) -> bool:
        """/subscribe (True) or /unsubscribe from the government news digest. True if it changed.
        The chat row must exist (ChatRepository.upsert)."""

    async def add_query(self, chat_id: int, query_text: str) -> tuple[SavedQuery, bool]:
        """Save (or re-enable) a query. Returns (query, created). Raises TooManyQueries past the limit."""

    async def set_query_enabled(self, chat_id: int, query_id: int, enabled: bool) -> bool:
        """Unsubscribe from one saved query (kept) or re-enable it. True if it changed."""

    async def delete_query(self, chat_id: int, query_id: int) -> bool:
        """Forget a saved query (the delete button of /subscriptions)."""

    async def unsubscribe_all(self, chat_id: int) -> bool:
        """Stop the digest entirely; every saved query is kept, disabled. True if anything changed."""

    async def get_query(self, chat_id: int, query_id: int) -> SavedQuery | None: ...

    async def list_queries(
        self, chat_id: int, *, enabled_only: bool = False, limit: int = -1, offset: int = 0
    ) -> list[SavedQuery]:
        """Oldest first; `limit=-1` for all (pagination of /subscriptions)."""

    async def count_queries(self, chat_id: int, *, enabled_only: bool = False) -> int: ...

    async def is_subscribed(self, chat_id: int) -> bool: ...

    async def many(self, chat_ids: Sequence[int]) -> dict[int, Subscription]:
        """Subscriptions of many chats in two queries (the fan-out composes thousands)."""

    async def count_subscribed(self, *, active_chats_only: bool = True) -> int:
        """Chats that get a digest (for /stats: active subscribers)."""


class OutboxStore(Protocol):
    """The persistent delivery outbox: jobs, their parts, fan-out statistics and the delivery lease."""

    async def create_digest_job(
        self,
        chat_id: int,
        *,
        period_start: datetime,
        period_end: datetime,
        parts: Sequence[PartDraft],
        items: Sequence[int] = (),
        page_size: int | None = None,
        last_part_markup: Callable[[int], str | None] | None = None,
        now: datetime | None = None,
    ) -> int | None:
        """Atomically: the job with its parts (unless this chat already has one for `period_end`) and the
        chat's `last_period_end` moved to `period_end`. With no parts (nothing new, no notice wanted) only the
        period advances. `last_part_markup(job_id)` gives the last part's reply markup (a "next page" button
        needs the job id). Returns the new job id, or None when no job was created."""

    async def wait_for_queued_jobs(self, seconds: float) -> bool:
        """Wait up to `seconds` for jobs queued outside the digest cycle since the last call (a
        broadcast, parked broadcasts requeued); True when there are some. The digest service sleeps on it."""

    async def create_broadcast(
        self,
        text: str,
        *,
        created_by: int | None,
        chat_ids: Sequence[int],
        parts: Sequence[PartDraft] | None = None,
        now: datetime | None = None,
    ) -> int:
        """A broadcast and one job per chat (same outbox, same pacing). `parts` default to the text as one
        message. Returns the broadcast id."""

    async def get_job(self, job_id: int) -> OutboxJob | None: ...

    async def parts(self, job_id: int) -> list[OutboxPart]: ...

    async def ready_jobs(self, now: datetime | None = None, *, limit: int = -1) -> list[OutboxJob]:
        """Pending and failed jobs whose next attempt is due, of active chats, oldest first."""

    async def next_attempt_at(self) -> datetime | None:
        """The earliest next attempt of a job waiting to be sent (for the service's sleep)."""

    async def jobs_for_chat(self, chat_id: int, *, limit: int = 20) -> list[OutboxJob]: ...

    async def job_items(self, job_id: int) -> tuple[int, ...]: ...

    async def counts(self) -> OutboxCounts: ...

    async def begin_job(self, job_id: int) -> bool:
        """Take the job for sending: only from `pending` or `failed`. False when it is no longer waiting —
        a fan-out works through a list read minutes ago, and meanwhile the job may have been parked (the chat
        blocked the bot), superseded (it came back: a catch-up digest covers the period) or sent."""

    async def mark_part_sending(self, job_id: int, seq: int) -> bool:
        """Committed before the request: after a crash this part is known to have been in flight. False (and
        nothing marked) when the job is no longer being sent: it was taken away between two parts."""

    async def mark_part_unsent(self, job_id: int, seq: int) -> None:
        """The request failed in a way that proves Telegram did not take the message (an error answer)."""

    async def mark_part_sent(self, job_id: int, seq: int, message_id: int) -> None: ...

    async def complete_job(self, job_id: int) -> None: ...

    async def retry_later(self, job_id: int, at: datetime, error: str, *, failed: bool = False) -> None:
        """Back to the queue at `at`; `failed=True` when retries ran out (it shows in the status and is tried
        again next cycle)."""

    async def mark_job_inactive(self, job_id: int, reason: str) -> None: ...

    async def reactivate_jobs(
        self,
        chat_id: int,
        *,
        now: datetime | None = None,
        broadcast_max_age: timedelta = BROADCAST_MAX_AGE,
    ) -> Reactivation:
        """The chat is coming back (call it before `ChatRepository.reactivate`, so the digest service never
        sees the chat active with its old schedule): decide the fate of its parked (`inactive`) jobs."""

    async def recover_interrupted(self) -> tuple[int, int]:
        """At start-up, before delivering: jobs left `sending` by a killed process go back to `pending`;
        parts left `sending` become `uncertain` (they reached Telegram or died on the way; resending could
        double them). Returns (jobs, parts) touched. Only one delivering process per database."""

    async def start_fanout(self, kind: str, *, now: datetime | None = None) -> int: ...

    async def finish_fanout(
        self, fanout_id: int, *, jobs: int, sent: int, retried: int, failed: int, messages: int
    ) -> None: ...

    async def last_fanout(self, *, kind: str | None = None) -> FanoutStats | None:
        """The last finished fan-out that had work (for /stats)."""

    async def lease(self, name: str = "delivery") -> Lease | None:
        """The lease of a once-per-database duty: `delivery` (digests) or `poller` (sources)."""

    async def take_lease(
        self, holder: str, *, expires_at: datetime, expected: str | None, name: str = "delivery"
    ) -> bool:
        """Compare-and-set: take (or renew) the lease `name` if its holder is still `expected` (None = no lease)
        or already `holder`. False when someone else got there first."""

    async def release_lease(self, holder: str, name: str = "delivery") -> None: ...


class SourceStore(Protocol):
    """News sources, their health, the items they listed, article provenance and clusters."""

    async def add(self, new: NewSource, *, now: datetime | None = None) -> Source:
        """Insert a source, due at once. Raises SourceExistsError for a URL already there."""

    async def add_defaults(self, defaults: Sequence[NewSource], *, now: datetime | None = None) -> int:
        """Load the default sources on the first start: once ever, and only into an empty table (sources
        added by hand before the first start win). Returns how many were added."""

    async def get(self, source_id: int) -> Source | None: ...

    async def get_by_url(self, url: str) -> Source | None: ...

    async def list_all(self) -> list[Source]: ...

    async def count(self) -> int: ...

    async def remove(self, source_id: int) -> bool: ...

    async def set_enabled(self, source_id: int, enabled: bool, *, now: datetime | None = None) -> bool:
        """Enable (due at once, health counters reset) or disable a source. False if there is no such id."""

    async def due(self, now: datetime, *, source_ids: Sequence[int] | None = None) -> list[Source]:
        """Enabled sources whose next poll time has come (or the given ones, due or not)."""

    async def next_due_at(self) -> datetime | None: ...

    async def record_success(
        self,
        source: Source,
        *,
        now: datetime,
        items: int | None,
        new: int,
        etag: str | None,
        last_modified: str | None,
        redirect_url: str | None,
    ) -> None:
        """A poll that got an answer. `items=None` means 304 Not Modified (nothing to count as empty)."""

    async def record_failure(
        self, source: Source, *, now: datetime, error: str, redirect_url: str | None = None
    ) -> int:
        """A poll that failed; the next one is backed off exponentially. Returns the failures in a row."""

    async def pending_alerts(self) -> list[SourceAlert]:
        """Enabled sources past an alert threshold that were not reported yet in this episode."""

    async def mark_alerted(self, source_id: int, kind: AlertKind) -> None: ...

    async def known_items(self, source_id: int, keys: Iterable[str]) -> set[str]:
        """The keys among `keys` this source has listed before."""

    async def remember_items(
        self, source_id: int, keys: Iterable[str], article_ids: Iterable[int], *, now: datetime
    ) -> None:
        """Record listed item keys and link the articles the source brought in, in one transaction."""

    async def save_poll(
        self,
        source: Source,
        *,
        now: datetime,
        keys: Iterable[str],
        new_ids: Sequence[int],
        others: Sequence[Article],
        success: PollSuccess,
    ) -> dict[str, int]:
        """The bookkeeping of a polled source, in one transaction: remember its listed item `keys`, link it to
        the articles it brought in (`new_ids`, just stored, and the stored articles that `others` are
        duplicates of: that source carried them too) and record the success. Returns content hash -> id of
        the new articles."""

    async def articles_of(self, source_id: int) -> list[int]: ...

    async def sketches_between(self, since: datetime, until: datetime) -> list[tuple[int, int, Sketch]]:
        """(article id, cluster id, sketch) of clustered articles published in [since, until]."""

    async def save_clusters(self, rows: Sequence[tuple[int, int, str, datetime, Sketch]]) -> None:
        """Store (article id, cluster id, source name, published at, sketch) rows."""

    async def ids_by_hash(self, article_ids: Sequence[int]) -> dict[str, int]:
        """content hash -> id of the given stored articles (to tell which of a batch were the new ones)."""

    async def stored_article_ids(self, articles: Sequence[Article]) -> list[int]:
        """Ids of the stored articles these are duplicates of, by the archive's rules: the same normalized
        URL or the same content hash."""

    async def stored_urls(self, urls: Sequence[str]) -> set[str]:
        """The URLs among `urls` whose article is stored (the archive's rule: the same normalized URL)."""

    async def clusters_for(self, article_ids: Iterable[int]) -> dict[int, Cluster]:
        """For each given article that has near-duplicates or was carried by several sources: its cluster
        (all members) and the names of the other sources that carried the story."""


class SearchKeyStore(Protocol):
    """Search queries kept under short keys (page buttons carry the key, not the query), shared by every
    instance on the database and kept across restarts until they expire."""

    async def remember(self, key: str, query_text: str, *, expires_at: datetime) -> bool:
        """Keep `query_text` under `key` until `expires_at` (refreshing it when it is already there). False,
        and nothing changed, when `key` holds another live query (a key collision: the caller picks another)."""

    async def recall(self, key: str, *, now: datetime, expires_at: datetime) -> str | None:
        """The live query under `key` (its lifetime moved to `expires_at`), or None when unknown or expired."""

    async def forget_expired(self, now: datetime) -> int:
        """Drop the queries expired at `now`; returns how many."""


class SharedLimitStore(Protocol):
    """Limits that one process keeps in memory and several instances on one database must keep together: the
    bot token's overall send rate, per-user flood throttling, the group /digest cooldown. A backend that serves
    one process has none (Storage.shared_limits is None)."""

    async def take_send_slot(self, interval_seconds: float, *, returned: int = 0) -> float:
        """Reserve the next send slot, `interval_seconds` after the previous one (or now); the seconds to wait
        until it (0.0 when it is now). Measured on the database server's clock, the one all instances share.
        `returned`: slots this instance took for messages Telegram did not take (a 5xx), given back first (the
        schedule moves back that many intervals, never before now), so they are not lost to every instance."""

    async def use_limit(
        self, key: str, *, burst: int, per_second: float, now: datetime
    ) -> tuple[bool, int, float]:
        """One use of the token bucket `key` (`burst` uses at once, refilled at `per_second`): (allowed,
        refusals in a row including this one — 0 when allowed, seconds until the next use is allowed)."""


class Storage(Protocol):
    """One opened database: its repositories, built once, and the clock they stamp rows with."""

    @property
    def clock(self) -> Clock: ...

    @property
    def articles(self) -> ArticleStore: ...

    @property
    def chats(self) -> ChatStore: ...

    @property
    def subscriptions(self) -> SubscriptionStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def sources(self) -> SourceStore: ...

    @property
    def search_keys(self) -> SearchKeyStore: ...

    @property
    def shared_limits(self) -> SharedLimitStore | None:
        """Limits several instances keep together; None for a backend one process owns (SQLite)."""

    async def ping(self) -> None:
        """Raise StorageError when the database cannot answer a trivial query."""

    async def close(self) -> None:
        """Close the connection(s); idempotent."""
