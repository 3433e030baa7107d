"""Named leases of once-per-database duties (both backends) and DutyLease on top of them: one holder per duty,
takeover after the holder's lease lapses, a holder that loses its lease is told to stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.clock import FixedClock
from bot.leases import DELIVERY, LEASE_TTL, POLLER, DutyLease
from storage import Storage
from tests.conftest import TEST_NOW


async def test_duties_have_separate_leases(storage: Storage) -> None:
    outbox = storage.outbox
    later = TEST_NOW + timedelta(seconds=20)
    assert await outbox.take_lease("a", expires_at=later, expected=None, name=DELIVERY)
    assert await outbox.take_lease("b", expires_at=later, expected=None, name=POLLER)
    assert not await outbox.take_lease("b", expires_at=later, expected=None, name=DELIVERY)
    delivery, poller = await outbox.lease(DELIVERY), await outbox.lease(POLLER)
    assert delivery is not None and delivery.holder == "a"
    assert poller is not None and poller.holder == "b"
    await outbox.release_lease("a", DELIVERY)
    assert await outbox.lease(DELIVERY) is None and await outbox.lease(POLLER) is not None


async def test_a_second_instance_takes_over_when_the_holder_lease_lapses(storage: Storage) -> None:
    clock = storage.clock
    assert isinstance(clock, FixedClock)
    first, second = DutyLease(storage, POLLER), DutyLease(storage, POLLER)
    first.holder, second.holder = "elsewhere.example:1:a", "elsewhere.example:2:b"  # hosts of their own
    assert await first.acquire()
    assert not await second.acquire() and second.other == first.holder
    clock.advance(seconds=LEASE_TTL.total_seconds() - 1)
    assert not await second.acquire()  # still held
    clock.advance(seconds=2)  # the holder stopped renewing: its lease lapsed
    assert await second.acquire()
    assert not await first.acquire() and first.other == second.holder


async def test_renewing_tells_the_holder_when_its_lease_went_to_another(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.leases.LEASE_RENEW_SECONDS", 0.01)
    holder, usurper = DutyLease(storage, DELIVERY), DutyLease(storage, DELIVERY)
    holder.holder, usurper.holder = "elsewhere.example:1:a", "elsewhere.example:2:b"
    assert await holder.acquire()
    async with holder.renewing() as lost:
        assert not lost.is_set()
        # Another instance took the lease (as after this one stalled past its expiry).
        current = await storage.outbox.lease(DELIVERY)
        assert current is not None
        assert await storage.outbox.take_lease(
            usurper.holder, expires_at=TEST_NOW + LEASE_TTL, expected=current.holder, name=DELIVERY
        )
        await asyncio.wait_for(lost.wait(), 5)
