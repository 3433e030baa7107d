"""Limits several instances keep together on PostgreSQL (storage.shared_limits): token buckets per key, used by
the per-user throttle and the group /digest cooldown, so a flood spread over instances is one flood."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FixedClock
from bot.digest.on_demand import ChatCooldown
from bot.telegram.throttle import FloodThrottle, ThrottleMiddleware
from storage.postgres import PostgresStorage
from tests.conftest import TEST_NOW


@pytest.fixture
async def two_instances(
    postgres_schema: tuple[str, str],
) -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    url, schema = postgres_schema
    clock = FixedClock(TEST_NOW)
    first = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=2)
    second = await PostgresStorage.open(url, clock=clock, schema=schema, pool_size=2)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_bucket_refills_at_its_rate_and_counts_refusals(
    two_instances: tuple[PostgresStorage, PostgresStorage],
) -> None:
    limits = two_instances[0].shared_limits
    use = [await limits.use_limit("k", burst=2, per_second=0.5, now=TEST_NOW) for _ in range(4)]
    assert [u[:2] for u in use] == [(True, 0), (True, 0), (False, 1), (False, 2)]
    assert use[2][2] == pytest.approx(2.0)  # one token at 0.5/s
    clock = two_instances[0].clock
    assert isinstance(clock, FixedClock)
    later = clock.advance(seconds=2)
    assert (await limits.use_limit("k", burst=2, per_second=0.5, now=later))[:2] == (True, 0)
    assert (await limits.use_limit("other", burst=2, per_second=0.5, now=later))[0]  # keys are separate


async def test_throttle_spread_over_two_instances_is_one_flood(
    two_instances: tuple[PostgresStorage, PostgresStorage],
) -> None:
    first, second = (
        ThrottleMiddleware(FloodThrottle(burst=3, rate_per_second=0.1), shared=s.shared_limits, now=s.clock)
        for s in two_instances
    )
    answers = [await (first if i % 2 else second).check(77) for i in range(6)]
    # Three allowed in all (not three per instance), then one notice, then silence.
    assert answers == [(True, False)] * 3 + [(False, True), (False, False), (False, False)]


async def test_group_digest_cooldown_holds_across_instances(
    two_instances: tuple[PostgresStorage, PostgresStorage],
) -> None:
    first, second = (ChatCooldown(600, shared=s.shared_limits, now=s.clock) for s in two_instances)
    assert (await first.claim(-100)).allowed
    refused = await second.claim(-100)
    assert not refused.allowed and refused.tell and refused.remaining == pytest.approx(600)
    again = await first.claim(-100)
    assert not again.allowed and not again.tell  # told once per window
    clock = two_instances[0].clock
    assert isinstance(clock, FixedClock)
    clock.advance(seconds=601)
    assert (await second.claim(-100)).allowed


async def test_without_shared_limits_the_cooldown_is_the_process_own() -> None:
    now = [0.0]
    cooldown = ChatCooldown(600, clock=lambda: now[0])
    assert (await cooldown.claim(5)).allowed
    refused = await cooldown.claim(5)
    assert not refused.allowed and refused.tell and refused.remaining == 600
    now[0] = 601
    assert (await cooldown.claim(5)).allowed
