"""What only the PostgreSQL backend has: migrations under an advisory lock (two instances starting together),
the shared send slots of several instances."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.clock import FixedClock
from storage.postgres import PostgresStorage
from storage.postgres.migrations import MIGRATIONS
from tests.conftest import TEST_NOW


async def test_instances_starting_together_migrate_once(postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    opened = await asyncio.gather(
        *(PostgresStorage.open(url, clock=FixedClock(TEST_NOW), schema=schema, pool_size=2) for _ in range(3))
    )
    try:
        versions = await opened[0].db.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [row["version"] for row in versions] == [m.version for m in MIGRATIONS]
        assert await opened[1].db.migrate() == []  # nothing left to do
    finally:
        for storage in opened:
            await storage.close()


async def test_send_slots_are_spaced_across_instances(postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    first = await PostgresStorage.open(url, clock=FixedClock(TEST_NOW), schema=schema, pool_size=4)
    second = await PostgresStorage.open(url, clock=FixedClock(TEST_NOW), schema=schema, pool_size=4)
    try:
        interval = 0.2
        waits = await asyncio.gather(
            *(s.shared_limits.take_send_slot(interval) for s in (first, second, first, second, first, second))
        )
        # Six senders at once, from two instances: their slots are one interval apart, whoever asked.
        ordered = sorted(waits)
        assert ordered[0] < interval
        gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
        assert all(abs(gap - interval) < 0.05 for gap in gaps), gaps
    finally:
        await first.close()
        await second.close()


async def test_a_slot_given_back_moves_the_shared_schedule_back(postgres_schema: tuple[str, str]) -> None:
    """A slot whose message Telegram did not take goes back with the next one: the schedule moves back one
    interval (the next slot is the returned one), never before now (no burst saved up)."""
    url, schema = postgres_schema
    storage = await PostgresStorage.open(url, clock=FixedClock(TEST_NOW), schema=schema, pool_size=2)
    try:
        slots = storage.shared_limits
        interval = 10.0  # long, so the server's clock moving meanwhile is noise
        await slots.take_send_slot(interval)
        queued = await slots.take_send_slot(interval)
        assert queued == pytest.approx(interval, abs=0.5)
        # Given back with the next take: that one gets the same moment, not one interval later.
        assert await slots.take_send_slot(interval, returned=1) == pytest.approx(queued, abs=0.5)
        assert await slots.take_send_slot(interval) == pytest.approx(2 * interval, abs=0.5)
        # More given back than the queue holds: the slot is now, not in the past.
        assert await slots.take_send_slot(interval, returned=50) == 0.0
    finally:
        await storage.close()
