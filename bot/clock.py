"""The one way the application reads the time: a `Clock` built once at start-up and injected everywhere
(services, handlers, repositories), so tests pass the time in instead of depending on the day they run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current moment, timezone-aware UTC, whole seconds."""


def system_clock() -> datetime:
    """The wall clock: the application's `Clock` outside tests."""
    return datetime.now(UTC).replace(microsecond=0)


class FixedClock:
    """A clock that says what it is told: for tests, simulations and replays (`clock.now = ...`, `advance`)."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        self.now += timedelta(**delta)
        return self.now
