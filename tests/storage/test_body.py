"""storage/sqlite/body.py: the SQLite archive keeps bodies compressed and still reads rows written before."""

from __future__ import annotations

import pytest

from bot.clock import FixedClock
from storage.sqlite import SqliteStorage, body
from tests.storage.test_articles import SEED


@pytest.mark.parametrize(
    "paragraphs",
    [(), ("",), ("Один абзац.",), ("Первый абзац.", "Второй абзац о губернаторах."), ("ё\u0301 " * 5_000,)],
)
def test_pack_and_unpack_round_trip(paragraphs: tuple[str, ...]) -> None:
    assert body.unpack(body.pack(paragraphs)) == body.PARAGRAPH_SEPARATOR.join(paragraphs)


async def test_bodies_are_stored_packed_and_rows_of_text_still_read(clock: FixedClock) -> None:
    storage = await SqliteStorage.open(":memory:", clock=clock)
    try:
        (article_id,) = (await storage.articles.add_many([SEED])).new_ids
        stored = await storage.db.fetchval("SELECT body FROM articles WHERE id = ?", (article_id,))
        assert isinstance(stored, bytes)
        assert (await storage.articles.get(article_id)).body == SEED.body  # type: ignore[union-attr]
        text = body.PARAGRAPH_SEPARATOR.join(SEED.body)  # a row written before bodies were packed
        async with storage.db.transaction() as conn:
            await conn.execute("UPDATE articles SET body = ? WHERE id = ?", (text, article_id))
        assert (await storage.articles.get(article_id)).body == SEED.body  # type: ignore[union-attr]
    finally:
        await storage.close()
