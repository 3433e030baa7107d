"""bot/digest/on_demand.py: the group /digest cooldown and the check of a preview page button's period end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.on_demand import PREVIEW_PAGE_MAX_AGE, ChatCooldown, PagesInFlight, preview_period_end

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_cooldown_window_and_one_told_refusal() -> None:
    now = [0.0]
    cooldown = ChatCooldown(600, clock=lambda: now[0])
    assert cooldown.remaining(1) == 0
    assert not cooldown.tell_refusal(1)  # nothing to refuse yet
    cooldown.start(1)
    now[0] = 100
    assert cooldown.remaining(1) == 500 and cooldown.remaining(2) == 0
    assert cooldown.tell_refusal(1) and not cooldown.tell_refusal(1)
    now[0] = 600
    assert cooldown.remaining(1) == 0
    cooldown.start(1)
    assert cooldown.remaining(1) == 600 and cooldown.tell_refusal(1)  # a new window is told again


def test_cooldown_holds_at_most_max_chats() -> None:
    now = [0.0]
    cooldown = ChatCooldown(600, clock=lambda: now[0], max_chats=3)
    for chat in range(3):
        cooldown.start(chat)
    now[0] = 700  # all expired: pruned, not evicted
    cooldown.start(10)
    assert len(cooldown._windows) == 1
    for chat in (11, 12, 13):
        cooldown.start(chat)  # all running: the oldest (10) goes
    assert len(cooldown._windows) == 3 and cooldown.remaining(10) == 0 and cooldown.remaining(13) == 600


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        (int(NOW.timestamp()), NOW),
        (int((NOW - timedelta(days=1)).timestamp()), NOW - timedelta(days=1)),
        (int((NOW + timedelta(minutes=1)).timestamp()), NOW + timedelta(minutes=1)),
        (int((NOW + timedelta(hours=1)).timestamp()), None),
        (int((NOW - PREVIEW_PAGE_MAX_AGE - timedelta(seconds=1)).timestamp()), None),
        (0, None),
        (-1, None),
        (10**20, None),
        (2**63, None),
        (253402300800, None),
    ],
)
def test_preview_period_end(until: int, expected: datetime | None) -> None:
    assert preview_period_end(until, now=NOW) == expected


def test_pages_in_flight_claims_a_key_once_until_released() -> None:
    pages = PagesInFlight()
    steps = [
        ("claim", (1, 10), True),
        ("claim", (1, 10), False),  # a double tap while the first is handled
        ("claim", (1, 11), True),  # another message of the same chat
        ("release", (1, 10), None),
        ("claim", (1, 10), True),
        ("release", (2, 99), None),  # never claimed: nothing happens
    ]
    for action, key, expected in steps:
        if action == "claim":
            assert pages.claim(key) is expected, (action, key)
        else:
            pages.release(key)
    assert len(pages) == 2
