"""Search keys in the database (both backends) and the SearchKeys use case on top of them."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FixedClock
from bot.telegram.search_state import KEY_LIFETIME, SearchKeys, search_key
from storage import Storage
from tests.conftest import TEST_NOW

HOUR = timedelta(hours=1)


async def test_remember_recall_refresh_and_expire(storage: Storage) -> None:
    keys = storage.search_keys
    assert await keys.remember("k1", "комиссия транспорт", expires_at=TEST_NOW + HOUR)
    assert await keys.remember("k1", "комиссия транспорт", expires_at=TEST_NOW + HOUR)  # same query: refresh
    assert await keys.remember("k1", "другой запрос", expires_at=TEST_NOW + HOUR) is False  # a collision
    assert await keys.recall("k1", now=TEST_NOW, expires_at=TEST_NOW + 2 * HOUR) == "комиссия транспорт"
    # recall moved the expiry: alive past the first hour, gone after the second
    assert await keys.recall("k1", now=TEST_NOW + 90 * timedelta(minutes=1), expires_at=TEST_NOW + 2 * HOUR)
    assert await keys.recall("k1", now=TEST_NOW + 2 * HOUR, expires_at=TEST_NOW + 3 * HOUR) is None
    assert await keys.recall("missing", now=TEST_NOW, expires_at=TEST_NOW + HOUR) is None


async def test_an_expired_key_can_be_taken_and_expired_keys_are_forgotten(storage: Storage) -> None:
    keys = storage.search_keys
    assert isinstance(storage.clock, FixedClock)
    await keys.remember("k", "старый", expires_at=TEST_NOW + HOUR)
    await keys.remember("k2", "живой", expires_at=TEST_NOW + 5 * HOUR)
    storage.clock.advance(hours=2)
    assert await keys.remember("k", "новый", expires_at=TEST_NOW + 3 * HOUR)  # the old one had expired
    assert await keys.recall("k", now=TEST_NOW + 2 * HOUR, expires_at=TEST_NOW + 3 * HOUR) == "новый"
    assert await keys.forget_expired(TEST_NOW + 4 * HOUR) == 1
    assert await keys.recall("k2", now=TEST_NOW + 4 * HOUR, expires_at=TEST_NOW + 5 * HOUR) == "живой"


async def test_search_keys_use_case_is_shared_by_instances_and_survives_restarts(storage: Storage) -> None:
    first = SearchKeys(storage.search_keys, storage.clock)
    key = await first.put('"Госсовет" -спорт')
    assert key == search_key('"Госсовет" -спорт') and len(key) == 8
    second = SearchKeys(storage.search_keys, storage.clock)  # another instance, or after a restart
    assert await second.get(key) == '"Госсовет" -спорт'
    assert isinstance(storage.clock, FixedClock)
    storage.clock.advance(seconds=KEY_LIFETIME.total_seconds() + 1)
    assert await second.get(key) is None


async def test_a_colliding_key_gets_another_salt(storage: Storage) -> None:
    # Another query already holds this query's first key (as a 48-bit collision would): the next salt is used.
    await storage.search_keys.remember(search_key("мой запрос"), "чужой", expires_at=TEST_NOW + HOUR)
    key = await SearchKeys(storage.search_keys, storage.clock).put("мой запрос")
    assert key == search_key("мой запрос", 1)
    assert await SearchKeys(storage.search_keys, storage.clock).get(key) == "мой запрос"
