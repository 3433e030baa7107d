"""Digest schedules: local wall-clock times across DST, frequencies, timezone changes, catch-up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest.schedule import (
    FIRST_DIGEST_LOOKBACK,
    MAX_LOOKBACK,
    due_period_end,
    next_due,
    occurrences_after,
    period_start,
    schedule_anchor,
)


@dataclass(frozen=True)
class Spec:
    timezone: str = "Europe/Moscow"
    delivery_time: time = time(9, 0)
    frequency: str = "daily"
    weekday: int = 0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        # Moscow has no DST: 09:00 MSK = 06:00 UTC.
        (Spec(), utc(2026, 3, 1, 5, 0), utc(2026, 3, 1, 6, 0)),
        (Spec(), utc(2026, 3, 1, 6, 0), utc(2026, 3, 2, 6, 0)),
        # New York, before and after the spring-forward of 2026-03-08: 09:00 EST = 14:00 UTC, EDT = 13:00 UTC.
        (Spec("America/New_York"), utc(2026, 3, 7, 15, 0), utc(2026, 3, 8, 13, 0)),
        (Spec("America/New_York"), utc(2026, 3, 6, 15, 0), utc(2026, 3, 7, 14, 0)),
        # Berlin fall-back 2026-10-25: 09:00 CEST = 07:00 UTC, CET = 08:00 UTC.
        (Spec("Europe/Berlin"), utc(2026, 10, 24, 8, 0), utc(2026, 10, 25, 8, 0)),
        (Spec("Europe/Berlin"), utc(2026, 10, 23, 8, 0), utc(2026, 10, 24, 7, 0)),
        # Nonexistent on the spring-forward day (02:30 NY on 2026-03-08) → 03:30 EDT = 07:30 UTC.
        (Spec("America/New_York", time(2, 30)), utc(2026, 3, 7, 12, 0), utc(2026, 3, 8, 7, 30)),
        # An ambiguous time on the fall-back day (01:30 NY on 2026-11-01) → its first occurrence, EDT.
        (Spec("America/New_York", time(1, 30)), utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 5, 30)),
        # Weekdays: Friday 2026-11-27 after its delivery → Monday 2026-11-30.
        (Spec(frequency="weekdays"), utc(2026, 11, 27, 7, 0), utc(2026, 11, 30, 6, 0)),
        # Weekly on Wednesday (2), from Thursday 2026-11-26.
        (Spec(frequency="weekly", weekday=2), utc(2026, 11, 26, 7, 0), utc(2026, 12, 2, 6, 0)),
        # Tokyo 08:30 = 23:30 UTC the day before.
        (Spec("Asia/Tokyo", time(8, 30)), utc(2026, 11, 26, 0, 0), utc(2026, 11, 26, 23, 30)),
    ],
)
def test_next_due(spec: Spec, after: datetime, expected: datetime) -> None:
    assert next_due(spec, after=after, after_digest=False) == expected


def test_daily_local_time_is_kept_across_dst_for_a_month() -> None:
    spec = Spec("Europe/Berlin", time(7, 15))
    moments = list(_take(occurrences_after(spec, utc(2026, 10, 10)), 30))
    local = [m.astimezone(spec_zone(spec)) for m in moments]
    assert all((m.hour, m.minute) == (7, 15) for m in local)
    assert [m.date() for m in local] == [local[0].date() + timedelta(days=i) for i in range(30)]
    offsets = {m.utcoffset() for m in local}
    assert offsets == {timedelta(hours=2), timedelta(hours=1)}


def spec_zone(spec: Spec) -> ZoneInfo:
    return ZoneInfo(spec.timezone)


def _take(iterator: Iterator[datetime], count: int) -> list[datetime]:
    return [next(iterator) for _ in range(count)]


def test_after_a_digest_one_local_day_never_gets_two() -> None:
    # Digest at 09:00 Moscow (06:00 UTC); the chat then moves to New York (09:00 there = 14:00 UTC, same UTC
    # day but the same local date in New York as the previous digest: 01:00 NY) → tomorrow.
    last = utc(2026, 11, 26, 6, 0)
    ny = Spec("America/New_York")
    assert next_due(ny, after=last) == utc(2026, 11, 27, 14, 0)
    # Changing the time later the same day does not add a second digest today.
    later = Spec(delivery_time=time(18, 0))
    assert next_due(later, after=last) == utc(2026, 11, 27, 15, 0)
    # Moving east to Vladivostok (UTC+10): 09:00 there = 23:00 UTC, already the next local date there.
    assert next_due(Spec("Asia/Vladivostok"), after=last) == utc(2026, 11, 26, 23, 0)


def test_first_digest_same_day_when_subscribing_before_delivery_time() -> None:
    since = utc(2026, 11, 26, 5, 0)  # 08:00 Moscow
    assert next_due(Spec(), after=since, after_digest=False) == utc(2026, 11, 26, 6, 0)


@pytest.mark.parametrize(
    ("anchor", "now", "expected"),
    [
        # not yet due
        (utc(2026, 11, 26, 6, 0), utc(2026, 11, 27, 5, 59), None),
        # due exactly
        (utc(2026, 11, 26, 6, 0), utc(2026, 11, 27, 6, 0), utc(2026, 11, 27, 6, 0)),
        # bot down for three days: one catch-up, ending at the latest missed occurrence
        (utc(2026, 11, 26, 6, 0), utc(2026, 11, 29, 12, 0), utc(2026, 11, 29, 6, 0)),
        # bot down for two months: still one, the latest
        (utc(2026, 9, 1, 6, 0), utc(2026, 11, 29, 5, 0), utc(2026, 11, 28, 6, 0)),
    ],
)
def test_due_period_end_catch_up_once(anchor: datetime, now: datetime, expected: datetime | None) -> None:
    assert due_period_end(Spec(), anchor=anchor, now=now) == expected


def test_catch_up_weekly() -> None:
    spec = Spec(frequency="weekly", weekday=4)  # Fridays
    anchor = utc(2026, 11, 6, 6, 0)
    assert due_period_end(spec, anchor=anchor, now=utc(2026, 11, 12, 23, 0)) is None
    assert due_period_end(spec, anchor=anchor, now=utc(2026, 11, 26, 23, 0)) == utc(2026, 11, 20, 6, 0)


def test_period_start() -> None:
    end = utc(2026, 11, 27, 6, 0)
    since = utc(2026, 11, 20)
    first = period_start(period_end=end, last_period_end=None, subscribed_since=since)
    assert first == end - FIRST_DIGEST_LOOKBACK
    prev = utc(2026, 11, 26, 6, 0)
    assert period_start(period_end=end, last_period_end=prev, subscribed_since=since) == prev
    # resubscribed after the last digest: first digest again
    assert period_start(period_end=end, last_period_end=prev, subscribed_since=utc(2026, 11, 26, 7)) == (
        end - FIRST_DIGEST_LOOKBACK
    )
    # long downtime: capped
    old = utc(2026, 1, 1)
    assert period_start(period_end=end, last_period_end=old, subscribed_since=None) == end - MAX_LOOKBACK


def test_schedule_anchor() -> None:
    created = utc(2026, 1, 1)
    since = utc(2026, 11, 1)
    assert schedule_anchor(last_period_end=None, subscribed_since=since, created_at=created) == (since, False)
    last = utc(2026, 11, 20)
    assert schedule_anchor(last_period_end=last, subscribed_since=since, created_at=created) == (last, True)
    assert schedule_anchor(last_period_end=utc(2026, 10, 1), subscribed_since=since, created_at=created) == (
        since,
        False,
    )
    never = schedule_anchor(last_period_end=None, subscribed_since=None, created_at=created)
    assert never == (created, False)


def test_changing_timezone_moves_the_due_time() -> None:
    base = Spec()
    moved = replace(base, timezone="Asia/Tokyo")
    anchor = utc(2026, 11, 25, 6, 0)
    assert next_due(base, after=anchor) == utc(2026, 11, 26, 6, 0)
    assert next_due(moved, after=anchor) == utc(2026, 11, 26, 0, 0)


ZONES = ("Europe/Moscow", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    minute_of_day=st.integers(min_value=0, max_value=1439),
    frequency=st.sampled_from(("daily", "weekdays", "weekly")),
    weekday=st.integers(min_value=0, max_value=6),
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
    ),
    wakeups=st.lists(st.integers(min_value=1, max_value=60 * 24 * 9), min_size=1, max_size=25),
)
def test_simulated_service_never_doubles_a_local_day_and_catches_up_once(
    zone: str,
    minute_of_day: int,
    frequency: str,
    weekday: int,
    start: datetime,
    wakeups: list[int],
) -> None:
    """A service waking at random moments (minutes apart, up to 9 days of downtime): every digest ends at a
    scheduled local time, no two share a local date, and one wake-up never yields more than one digest."""
    spec = Spec(zone, time(minute_of_day // 60, minute_of_day % 60), frequency, weekday)
    anchor, after_digest = start, False
    now = start
    ends: list[datetime] = []
    for step in wakeups:
        now += timedelta(minutes=step)
        end = due_period_end(spec, anchor=anchor, now=now, after_digest=after_digest)
        if end is None:
            assert next_due(spec, after=anchor, after_digest=after_digest) > now
            continue
        assert anchor < end <= now
        assert due_period_end(spec, anchor=end, now=now) is None  # caught up: nothing more due right now
        ends.append(end)
        anchor, after_digest = end, True
    local = [e.astimezone(ZoneInfo(zone)) for e in ends]
    assert len({d.date() for d in local}) == len(local)
    for moment in local:
        if frequency == "weekdays":
            assert moment.weekday() < 5
        if frequency == "weekly":
            assert moment.weekday() == weekday
        # the wall-clock time, except on a spring-forward day when it did not exist (then an hour later)
        wanted = minute_of_day
        shown = moment.hour * 60 + moment.minute
        assert shown == wanted or (shown - wanted) % (24 * 60) in (30, 60)
