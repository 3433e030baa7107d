"""One day's digest fan-out to many subscribed chats through the Bot API emulator, which enforces Telegram's
limits (30 messages/s overall, 1/s per private chat): achieved messages/s against the limit, lost, doubled,
429s received; composing every digest without sending, against composing without the per-cycle caches; peak
memory.

    python bench/fanout_bench.py [--small] [--chats N] [--compose-only]

Articles are real corpus articles (bench/corpus.py) re-dated into the digest period; 20% of the chats also
have a saved query (real word pairs). Each chat gets its best 10 items (one message). The emulator runs in
this process, on the same event loop as the sender, so the sender's figure includes the emulator's work.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import iter_articles, word_pairs
from bot.digest.delivery import (
    DeliveryConfig,
    DigestComposer,
    create_due_jobs,
    deliver_ready,
)
from bot.digest.schedule import due_period_end, period_start, schedule_anchor
from bot.telegram.limits import GLOBAL_MESSAGES_PER_SECOND
from storage.sqlite.articles import ArticleRepository
from storage.sqlite.chats import ChatRepository
from storage.sqlite.database import Database
from storage.sqlite.outbox import OutboxRepository
from storage.sqlite.subscriptions import SubscriptionRepository
from tests.emulator import BotAPIEmulator
from tests.emulator.entities import parse_html

ARTICLES = 400
MAX_ITEMS = 10
QUERY_SHARE = 5  # one chat in five has a saved query
BASELINE_SAMPLE = 300


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(db: Database, chats: int, now: datetime, *, distinct_queries: bool = False) -> None:
    since = now - timedelta(days=10)
    chat_repo, subs = ChatRepository(db), SubscriptionRepository(db)
    pairs = word_pairs(chats if distinct_queries else 200, seed=7)
    for number in range(chats):
        chat_id = 10_000_000 + number
        await chat_repo.upsert(chat_id, type="private")
        await chat_repo.set_max_items(chat_id, MAX_ITEMS)
        await subs.set_gov_news(chat_id, True)
        if distinct_queries or number % QUERY_SHARE == 0:
            first, second = pairs[number % len(pairs)]
            await subs.add_query(chat_id, f"{first} {second}")
    await db.execute("UPDATE subscriptions SET since = ?", (since.isoformat(),))
    # The period every chat's 09:00 Moscow digest covers: the last 24 hours before it.
    chat = await chat_repo.get(10_000_000)
    assert chat is not None
    end = due_period_end(chat, anchor=since, now=now, after_digest=False)
    assert end is not None
    articles = []
    for index, article in enumerate(iter_articles(ARTICLES, seed=3)):
        moment = end - timedelta(minutes=1 + index * (23 * 60 - 2) / ARTICLES)
        articles.append(dataclasses.replace(article, published_at=moment))
    await ArticleRepository(db).add_many(articles)


async def compose_all(
    db: Database, now: datetime, *, shared_cache: bool, limit: int | None = None
) -> tuple[int, float]:
    """Compose every due chat's digest without writing anything; returns (digests, seconds)."""
    chats = await ChatRepository(db).subscribed()
    if limit is not None:
        chats = chats[:limit]
    subs = await SubscriptionRepository(db).many([c.id for c in chats])
    started = time.perf_counter()
    composer = DigestComposer(SqliteStorage(db))
    count = 0
    for chat in chats:
        sub = subs[chat.id]
        anchor, after = schedule_anchor(
            last_period_end=chat.last_period_end, subscribed_since=sub.since, created_at=chat.created_at
        )
        end = due_period_end(chat, anchor=anchor, now=now, after_digest=after)
        if end is None:
            continue
        start = period_start(period_end=end, last_period_end=chat.last_period_end, subscribed_since=sub.since)
        if not shared_cache:
            composer = DigestComposer(SqliteStorage(db))
        composed = await composer.compose(chat, sub, start=start, end=end)
        count += bool(composed.parts)
    return count, time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="300 chats instead of 10,000")
    parser.add_argument("--chats", type=int, help="number of subscribed chats")
    parser.add_argument("--compose-only", action="store_true", help="skip the sending part")
    parser.add_argument(
        "--distinct-queries", action="store_true", help="worst case: every chat has its own saved query"
    )
    args = parser.parse_args()
    chats = args.chats or (300 if args.small else 10_000)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.connect(Path(folder) / "bench.db")
        try:
            started = time.perf_counter()
            await seed(db, chats, now, distinct_queries=args.distinct_queries)
            print(f"seeded {chats} chats, {ARTICLES} articles in {time.perf_counter() - started:.1f} s")

            sample = min(BASELINE_SAMPLE, chats)
            _, uncached = await compose_all(db, now, shared_cache=False, limit=sample)
            composed, cached = await compose_all(db, now, shared_cache=True)
            per_digest_uncached = uncached / sample
            print(
                f"compose {composed} digests (no sending, no writes): {cached:.2f} s "
                f"({cached / max(composed, 1) * 1000:.2f} ms each); baseline without the per-cycle caches: "
                f"{per_digest_uncached * 1000:.2f} ms each (sample of {sample}) → "
                f"{per_digest_uncached * composed:.1f} s for all; ratio {per_digest_uncached * composed / cached:.1f}×"
            )
            started = time.perf_counter()
            created, _ = await create_due_jobs(SqliteStorage(db), now=now)
            jobs_seconds = time.perf_counter() - started
            print(f"compose + write {created} outbox jobs: {jobs_seconds:.2f} s")
            if args.compose_only:
                print(f"peak memory: {peak_memory_mib():.0f} MiB")
                return 0

            outbox = OutboxRepository(db)
            expected: dict[int, list[str]] = {}
            for job in await outbox.ready_jobs(now + timedelta(minutes=1)):
                expected[job.chat_id] = [parse_html(p.text).text for p in await outbox.parts(job.id)]
            total = sum(len(parts) for parts in expected.values())

            emulator = BotAPIEmulator()  # Telegram's limits: 30/s overall, private chats 1/s (bursts of 5)
            await emulator.start()
            for chat_id in expected:
                emulator.add_chat(chat_id, "private")
            bot = emulator.make_bot()
            try:
                config = DeliveryConfig(messages_per_second=float(GLOBAL_MESSAGES_PER_SECOND))
                started = time.perf_counter()
                result = await deliver_ready(bot, SqliteStorage(db), config, now=now + timedelta(minutes=1))
                seconds = time.perf_counter() - started
            finally:
                await bot.session.close()
                await emulator.stop()
            received = Counter((m.chat_id, m.text) for m in emulator.sent_messages)
            doubled = sum(n - 1 for n in received.values() if n > 1)
            lost = sum(
                1 for chat_id, parts in expected.items() for text in parts if received[(chat_id, text)] == 0
            )
            rate = result.messages / seconds
            print(
                f"fan-out: {result.messages}/{total} messages to {len(expected)} chats in {seconds:.1f} s = "
                f"{rate:.2f} msg/s; limit {GLOBAL_MESSAGES_PER_SECOND}/s → {rate / GLOBAL_MESSAGES_PER_SECOND:.1%} "
                f"of the limit; lost {lost}, doubled {doubled}, 429s received {len(emulator.flood_events)}, "
                f"failed jobs {result.failed}"
            )
            print(
                f"peak memory (bench process: database, composer, emulator and sender): {peak_memory_mib():.0f} MiB"
            )
            return 0 if lost == 0 and doubled == 0 else 1
        finally:
            await db.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
