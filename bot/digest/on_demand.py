"""On-demand digests (/digest and its "next page" button): the per-chat cooldown that keeps a group's members
from posting the whole multi-message digest over and over, the "next page" presses in flight (a double tap
sends a page once), and the check of the period end a preview's page
button carries (callback data can be forged: a timestamp out of any real range must not reach datetime)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
        self, seconds: float, *, clock: Callable[[], float] = time.monotonic, max_chats: int = 10_000
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.max_chats = max_chats
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
