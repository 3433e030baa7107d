"""On-demand digests (/digest and its "next page" button): what the chat's next digest would hold now
(`preview_digest`), a page of a sent digest (`digest_page`), the per-chat cooldown that keeps a group's members
from posting the whole multi-message digest over and over, the "next page" presses in flight (a double tap
sends a page once), and the check of the period end a preview's page button carries (callback data can be
forged: a timestamp out of any real range must not reach datetime)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.archive.models import StoredArticle
from bot.clock import Clock, system_clock
from bot.digest.compose import DigestComposer, digest_markup
from bot.digest.layout import Candidate, render_digest
from bot.digest.records import PartDraft
from bot.digest.schedule import period_start
from bot.telegram.texts import text
from storage.interfaces import SharedLimitStore, Storage

log = logging.getLogger(__name__)

# In a group /digest works at most once per this many seconds (private chats have no cooldown).
GROUP_DIGEST_COOLDOWN_SECONDS = 10 * 60
# A preview's "next page" button works this long after the preview; a digest's own pages live in the outbox.
PREVIEW_PAGE_MAX_AGE = timedelta(days=7)
# Clock skew allowed for a period end "from the future".
PREVIEW_PAGE_SKEW = timedelta(minutes=5)
# Pages beyond this are not ones a digest has (a digest holds at most a few hundred items).
MAX_DIGEST_PAGE = 1000


@dataclass(slots=True)
class _Window:
    ends: float
    told: bool = False


class ChatCooldown:
    """At most one use per `seconds` per chat; the first refusal in a window is told, later ones are silent
    (a notice for every attempt would be the same spam). Holds at most `max_chats` windows."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 10_000,
        shared: SharedLimitStore | None = None,
        now: Clock = system_clock,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.max_chats = max_chats
        self.shared = shared
        self.now = now
        self._windows: dict[int, _Window] = {}

    def remaining(self, chat_id: int) -> float:
        """Seconds until `chat_id` may use it again (0: now)."""
        window = self._windows.get(chat_id)
        return 0.0 if window is None else max(0.0, window.ends - self.clock())

    def start(self, chat_id: int) -> None:
        """A use now: the window starts."""
        now = self.clock()
        if len(self._windows) >= self.max_chats:
            self._windows = {chat: window for chat, window in self._windows.items() if window.ends > now}
            while len(self._windows) >= self.max_chats:  # all still running: the oldest goes
                del self._windows[next(iter(self._windows))]
        self._windows.pop(chat_id, None)
        self._windows[chat_id] = _Window(now + self.seconds)

    def tell_refusal(self, chat_id: int) -> bool:
        """True for the first refusal of the current window, False after that."""
        window = self._windows.get(chat_id)
        if window is None or window.told:
            return False
        window.told = True
        return True

    async def claim(self, chat_id: int) -> CooldownAnswer:
        """A use now, if the window allows it. With `shared` limits (several instances on one database) the
        window is kept there, so it holds whichever instance gets the next /digest; when the database cannot
        answer, this process's own window decides."""
        if self.shared is not None:
            try:
                allowed, refusals, wait = await self.shared.use_limit(
                    f"digest:{chat_id}", burst=1, per_second=1.0 / self.seconds, now=self.now()
                )
            except Exception:  # the database is away: the local window still limits this instance
                log.warning("shared /digest cooldown unavailable: using this instance's own", exc_info=True)
            else:
                return CooldownAnswer(allowed, tell=refusals == 1, remaining=wait)
        left = self.remaining(chat_id)
        if left > 0:
            return CooldownAnswer(False, tell=self.tell_refusal(chat_id), remaining=left)
        self.start(chat_id)  # before sending: a second request meanwhile is refused too
        return CooldownAnswer(True, tell=False, remaining=0.0)


@dataclass(frozen=True, slots=True)
class CooldownAnswer:
    allowed: bool
    tell: bool  # the first refusal of a window: say so (later ones are silent)
    remaining: float  # seconds until the next use is allowed


# The Dispatcher keyword argument the /digest cooldown goes by (bot/app.py build_dependencies).
COOLDOWN_KEY = "digest_cooldown"


class PagesInFlight:
    """The "next page" presses being handled, by (chat id, message id): a double tap sends the page once.
    One per Dispatcher (its `pages_in_flight` keyword argument)."""

    def __init__(self) -> None:
        self._keys: set[tuple[int, int]] = set()

    def claim(self, key: tuple[int, int]) -> bool:
        """True when `key` was free and is now taken; False while another press of it is handled."""
        if key in self._keys:
            return False
        self._keys.add(key)
        return True

    def release(self, key: tuple[int, int]) -> None:
        self._keys.discard(key)

    def __len__(self) -> int:
        return len(self._keys)


def preview_period_end(until: int, *, now: datetime) -> datetime | None:
    """The period end of a preview's page button, or None when it cannot be one the bot made: not positive,
    out of datetime's range, in the future, or older than PREVIEW_PAGE_MAX_AGE."""
    if until <= 0:
        return None
    try:
        moment = datetime.fromtimestamp(until, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    current = now
    if moment > current + PREVIEW_PAGE_SKEW or moment < current - PREVIEW_PAGE_MAX_AGE:
        return None
    return moment


async def preview_digest(
    storage: Storage, chat_id: int, *, now: datetime | None = None, page: int = 0
) -> list[PartDraft]:
    """What the chat's next digest would hold if it were sent at `now` (schedule and outbox untouched).
    Nothing new → one "nothing new" part. The last part of a capped digest has the "next page" button
    (job 0, `until` = the period end) for `preview_digest(..., now=until, page=page + 1)`."""
    moment = (now or storage.clock()).astimezone(UTC)
    chat = await storage.chats.get(chat_id)
    if chat is None:
        return []
    subscription = await storage.subscriptions.get(chat_id)
    start = period_start(
        period_end=moment, last_period_end=chat.last_period_end, subscribed_since=subscription.since
    )
    composed = await DigestComposer(storage).compose(
        chat, subscription, start=start, end=moment, page=page, notice_when_empty=True
    )
    parts = composed.parts
    if parts and composed.remaining:
        until = int(moment.timestamp())
        parts[-1] = PartDraft(parts[-1].text, digest_markup(0, page + 1, chat.locale, until=until))
    return parts


async def digest_page(storage: Storage, job_id: int, page: int, *, chat_id: int) -> list[PartDraft]:
    """Page `page` of a sent digest (the "next page" button). A job of another chat or a page past the end
    gives one part saying the digest is no longer available."""
    outbox = storage.outbox
    job = await outbox.get_job(job_id)
    chat = await storage.chats.get(chat_id)
    locale = chat.locale if chat else "ru"
    if (
        job is None
        or chat is None
        or job.chat_id != chat_id
        or job.period_start is None
        or job.period_end is None
    ):
        return [PartDraft(text("digest.page_gone", locale))]
    size = job.page_size or max(len(job.items), 1)
    wanted = job.items[: (page + 1) * size]
    by_id = {a.id: a for a in await storage.articles.get_many(wanted)}
    ranked = [Candidate(by_id[i], 0.0) for i in job.items if i in by_id] + [
        Candidate(_placeholder(i), 0.0) for i in job.items[len(wanted) :]
    ]
    composer = DigestComposer(storage)
    page_ids = [c.article.id for c in ranked[page * size : (page + 1) * size]]
    view = render_digest(
        ranked,
        period_start=job.period_start,
        period_end=job.period_end,
        timezone=chat.timezone,
        locale=locale,
        max_items=size,
        page=page,
        clusters=await composer.clusters(page_ids),
    )
    if not view.messages:
        return [PartDraft(text("digest.page_gone", locale))]
    parts = [PartDraft(message) for message in view.messages]
    if view.remaining:
        parts[-1] = PartDraft(parts[-1].text, digest_markup(job_id, page + 1, locale))
    return parts


def _placeholder(article_id: int) -> StoredArticle:
    """Items after the requested page are only counted, never shown: a cheap stand-in keeps the count."""
    epoch = datetime.fromtimestamp(0, UTC)
    return StoredArticle(
        id=article_id,
        title="",
        lead="",
        body=(),
        published_at=epoch,
        views=None,
        source="",
        url=None,
        topics=frozenset(),
        is_gov_commission=False,
        content_hash="",
        ingested_at=epoch,
    )
